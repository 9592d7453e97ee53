// SPDX-License-Identifier: MIT
// cli/json.hpp -- a small strict JSON reader (RFC 8259) for the statistics and profile files.
//
// Why our own and not yaml-cpp: YAML 1.2 reads JSON, but also a great deal that is not JSON
// (comments, unquoted strings, duplicate keys), its positions are YAML's, and only
// policy/parse_yaml.cpp may include it.  These files come from a program we do not control
// (a crashed writer leaves half a file), so every error is one line with line:column.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tiermalloc::json {

struct Member;

struct Value {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  bool is_uint = false;    // a non-negative integer without fraction or exponent that fits
  uint64_t uint = 0;       // ...in 64 bits: then this is exact
  std::string str;
  std::vector<Value> items;                           // array
  std::vector<Member> members;                        // object, in file order
  int line = 0, col = 0;                              // where the value starts, 1-based

  bool is_null() const { return type == Type::kNull; }
  bool is_object() const { return type == Type::kObject; }
  bool is_array() const { return type == Type::kArray; }
  bool is_string() const { return type == Type::kString; }
  bool is_number() const { return type == Type::kNumber; }
  /** The member named key, or nullptr (objects only). */
  const Value* get(std::string_view key) const;
};

struct Member {
  std::string first;
  Value second;
};

/** Parses text; on failure *error is "LINE:COL: what was expected".  Nesting is limited to
 *  kMaxDepth levels, duplicate object keys are refused. */
bool parse(std::string_view text, Value* out, std::string* error);
inline constexpr int kMaxDepth = 200;

const char* type_name(Value::Type t);

}  // namespace tiermalloc::json
