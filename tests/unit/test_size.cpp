// SPDX-License-Identifier: MIT
// Sizes, size conditions and api names as the policy language writes them.
#include <gtest/gtest.h>

#include "policy/model.hpp"

using namespace tiermalloc;
using namespace tiermalloc::policy;

TEST(Size, UnitsAreBinary) {
  uint64_t v;
  std::string e;
  ASSERT_TRUE(parse_size("4096", &v, &e));
  EXPECT_EQ(v, 4096u);
  ASSERT_TRUE(parse_size("64KiB", &v, &e));
  EXPECT_EQ(v, 64u << 10);
  ASSERT_TRUE(parse_size("1MiB", &v, &e));
  EXPECT_EQ(v, 1u << 20);
  ASSERT_TRUE(parse_size("2 GiB", &v, &e));
  EXPECT_EQ(v, 2ull << 30);
  ASSERT_TRUE(parse_size("3T", &v, &e));
  EXPECT_EQ(v, 3ull << 40);
  ASSERT_TRUE(parse_size("12B", &v, &e));
  EXPECT_EQ(v, 12u);
}

TEST(Size, RejectsGarbageWithAReason) {
  uint64_t v;
  std::string e;
  EXPECT_FALSE(parse_size("lots", &v, &e));
  EXPECT_NE(e.find("expected a size"), std::string::npos) << e;
  EXPECT_FALSE(parse_size("5 parsecs", &v, &e));
  EXPECT_NE(e.find("unknown size unit 'parsecs'"), std::string::npos) << e;
  EXPECT_FALSE(parse_size("99999999999999999999", &v, &e));
  EXPECT_NE(e.find("too large"), std::string::npos) << e;
  EXPECT_FALSE(parse_size("20000000TiB", &v, &e));
  EXPECT_NE(e.find("too large"), std::string::npos) << e;
}

TEST(SizeRange, Operators) {
  SizeRange r;
  std::string e;
  ASSERT_TRUE(parse_size_range(">= 64MiB", &r, &e));
  EXPECT_EQ(r.lo, 64ull << 20);
  EXPECT_EQ(r.hi, UINT64_MAX);
  ASSERT_TRUE(parse_size_range("> 1KiB", &r, &e));
  EXPECT_EQ(r.lo, 1025u);
  ASSERT_TRUE(parse_size_range("< 256", &r, &e));
  EXPECT_EQ(r.lo, 0u);
  EXPECT_EQ(r.hi, 255u);
  ASSERT_TRUE(parse_size_range("<= 256", &r, &e));
  EXPECT_EQ(r.hi, 256u);
  ASSERT_TRUE(parse_size_range("== 4096", &r, &e));
  EXPECT_EQ(r.lo, 4096u);
  EXPECT_EQ(r.hi, 4096u);
  ASSERT_TRUE(parse_size_range("4KiB..1MiB", &r, &e));
  EXPECT_EQ(r.lo, 4096u);
  EXPECT_EQ(r.hi, 1u << 20);
}

TEST(SizeRange, Errors) {
  SizeRange r;
  std::string e;
  EXPECT_FALSE(parse_size_range("1MiB..4KiB", &r, &e));
  EXPECT_NE(e.find("empty size range"), std::string::npos) << e;
  EXPECT_FALSE(parse_size_range("< 0", &r, &e));
  EXPECT_FALSE(parse_size_range("about 4KiB", &r, &e));
  EXPECT_NE(e.find("expected a size condition"), std::string::npos) << e;
}

TEST(Api, Names) {
  EXPECT_EQ(parse_api("malloc"), kApiMalloc);
  EXPECT_EQ(parse_api("calloc"), kApiCalloc);
  EXPECT_EQ(parse_api("realloc"), kApiRealloc);
  EXPECT_EQ(parse_api("aligned"), kApiAligned);
  EXPECT_EQ(parse_api("new"), kApiNew);
  EXPECT_EQ(parse_api("mmap"), kApiMmap);
  EXPECT_EQ(parse_api("brk"), 0u);
}

TEST(Glob, ShellPatterns) {
  EXPECT_TRUE(glob_match("python3*", "python3.11"));
  EXPECT_FALSE(glob_match("python3*", "perl"));
  EXPECT_TRUE(glob_match("*_multiarray_umath*", "_multiarray_umath.cpython-311-x86_64-linux-gnu.so"));
  EXPECT_TRUE(glob_match("g_malloc?", "g_malloc0"));
}
