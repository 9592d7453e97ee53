// SPDX-License-Identifier: MIT
// The strict JSON reader of `tiermalloc report` and `suggest` (cli/json.cpp).
#include <gtest/gtest.h>

#include "cli/json.hpp"

using tiermalloc::json::parse;
using tiermalloc::json::Value;

namespace {

std::string error_of(const std::string& text) {
  Value v;
  std::string err;
  EXPECT_FALSE(parse(text, &v, &err)) << text;
  return err;
}

}  // namespace

TEST(Json, ReadsEveryKindOfValue) {
  Value v;
  std::string err;
  ASSERT_TRUE(parse(R"({"a": [1, -2, 3.5, 1e3, true, false, null], "s": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "o": {}})", &v, &err)) << err;
  ASSERT_TRUE(v.is_object());
  const Value* a = v.get("a");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->items.size(), 7u);
  EXPECT_TRUE(a->items[0].is_uint);
  EXPECT_EQ(a->items[0].uint, 1u);
  EXPECT_FALSE(a->items[1].is_uint);
  EXPECT_EQ(a->items[1].number, -2);
  EXPECT_FALSE(a->items[2].is_uint);
  EXPECT_EQ(a->items[2].number, 3.5);
  EXPECT_FALSE(a->items[3].is_uint);  // an exponent: a number, not a count
  EXPECT_EQ(a->items[3].number, 1000);
  EXPECT_TRUE(a->items[4].boolean);
  EXPECT_TRUE(a->items[6].is_null());
  EXPECT_EQ(v.get("s")->str, "x\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_TRUE(v.get("o")->is_object());
  EXPECT_EQ(v.get("nope"), nullptr);
}

TEST(Json, KeepsBigCountsExact) {
  Value v;
  std::string err;
  ASSERT_TRUE(parse("[18446744073709551615, 18446744073709551616, 9007199254740993]", &v, &err)) << err;
  EXPECT_TRUE(v.items[0].is_uint);
  EXPECT_EQ(v.items[0].uint, UINT64_MAX);
  EXPECT_FALSE(v.items[1].is_uint);  // does not fit: a number only
  EXPECT_EQ(v.items[2].uint, 9007199254740993u);  // exact where a double is not
}

TEST(Json, PositionsOfValues) {
  Value v;
  std::string err;
  ASSERT_TRUE(parse("{\n  \"k\":\n    [7]\n}", &v, &err)) << err;
  EXPECT_EQ(v.get("k")->line, 3);
  EXPECT_EQ(v.get("k")->col, 5);
  EXPECT_EQ(v.get("k")->items[0].col, 6);
}

TEST(Json, ErrorsNameLineColumnAndWhatWasExpected) {
  EXPECT_EQ(error_of("{\"a\": 1,\n \"b\" 2}"), "2:6: unexpected '2' (expected ':')");
  EXPECT_EQ(error_of("[1, 2,]"), "1:7: unexpected ']' (expected a value: object, array, string, number, true, false or null)");
  EXPECT_EQ(error_of("{\"a\": 1,}"), "1:9: unexpected '}' (expected '\"' to start a key)");
  EXPECT_EQ(error_of("{\"a\": [1, 2"), "1:12: unexpected end of file (expected ',' or ']')");
  EXPECT_EQ(error_of("{\"a\": 1, \"a\": 2}"), "1:10: duplicate key \"a\"");
  EXPECT_EQ(error_of("[01]"), "1:3: leading zero in a number");
  EXPECT_EQ(error_of("[1.]"), "1:4: expected a digit after '.'");
  EXPECT_EQ(error_of("[-]"), "1:3: expected a digit");
  EXPECT_EQ(error_of("[1e]"), "1:4: expected a digit in the exponent");
  EXPECT_EQ(error_of("[tru]"), "1:2: expected 'true'");
  EXPECT_EQ(error_of("[NaN]"), "1:2: unexpected 'N' (expected a value: object, array, string, number, true, false or null)");
  EXPECT_EQ(error_of("\"a\tb\""), "1:3: control character \\x09 in a string (expected it escaped)");
  EXPECT_EQ(error_of("\"\\x\""), "1:2: unknown escape '\\x' (expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
  EXPECT_EQ(error_of("\"\\ud800\""), "1:8: high surrogate not followed by a \\u low surrogate");
  EXPECT_EQ(error_of("\"\\udc00\""), "1:8: lone low surrogate in a \\u escape");
  EXPECT_EQ(error_of("\"abc"), "1:5: unexpected end of file in a string (expected '\"')");
  EXPECT_EQ(error_of("{} {}"), "1:4: unexpected '{' after the end of the document");
  EXPECT_EQ(error_of(""), "1:1: unexpected end of file (expected a value)");
  EXPECT_EQ(error_of("// c\n{}"), "1:1: unexpected '/' (expected a value: object, array, string, number, true, false or null)");
  EXPECT_EQ(error_of("[1e999]"), "1:2: number out of range");
}

TEST(Json, RefusesNestingBeyondTheBound) {
  std::string deep(tiermalloc::json::kMaxDepth + 5, '[');
  EXPECT_EQ(error_of(deep).substr(0, 7), "1:" + std::to_string(tiermalloc::json::kMaxDepth + 2) + ": ");
  std::string ok(tiermalloc::json::kMaxDepth, '[');
  ok += std::string(tiermalloc::json::kMaxDepth, ']');
  Value v;
  std::string err;
  EXPECT_TRUE(parse(ok, &v, &err)) << err;
}

TEST(Json, TruncatedFilesFailEverywhere) {
  // A statistics file cut short at any byte (a writer killed mid-dump) is an error, never a crash.
  std::string doc = R"({"version": 1, "tiers": [{"name": "hbm", "nodes": [2], "limit": null, "x": -1.5e-3}], "s": "\u00e9"})";
  for (size_t n = 0; n < doc.size(); ++n) {
    Value v;
    std::string err;
    EXPECT_FALSE(parse(doc.substr(0, n), &v, &err)) << n;
    EXPECT_FALSE(err.empty());
  }
  Value v;
  std::string err;
  EXPECT_TRUE(parse(doc, &v, &err)) << err;
}
