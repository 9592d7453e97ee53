// SPDX-License-Identifier: MIT
// The YAML policy: what parses, and the one-line error for each thing that does not.
#include <gtest/gtest.h>

#include <stdio.h>
#include <unistd.h>

#include "policy/model.hpp"

using namespace tiermalloc;
using namespace tiermalloc::policy;

namespace {

std::vector<Problem> parse_errors(const std::string& yaml, PolicySpec* out = nullptr) {
  PolicySpec spec;
  std::vector<Problem> problems;
  parse_policy_text(yaml, "p.yaml", out ? out : &spec, &problems);
  return problems;
}

::testing::AssertionResult has_error(const std::vector<Problem>& ps, int line, int col, const std::string& text) {
  for (const auto& p : ps)
    if (p.loc.line == line && p.loc.col == col && p.str().find(text) != std::string::npos)
      return ::testing::AssertionSuccess();
  std::string all;
  for (const auto& p : ps) all += "\n  " + p.str();
  return ::testing::AssertionFailure() << "no error at " << line << ":" << col << " containing '" << text << "'; got:" << all;
}

}  // namespace

TEST(Parse, SpecExampleSubset) {
  const char* yaml = R"(version: 1
programs: ["python3*"]
tiers:
  near: { select: lowest_latency }
  cxl:  { nodes: [2, 3], mode: preferred, limit: 8GiB }
default: near
fallback: [near, cxl]
on_exhausted: fail
stack_depth: 4
rules:
  - name: big
    match: { size: ">= 64MiB", api: [malloc, calloc, mmap] }
    tier: cxl
    fallback: [near]
)";
  PolicySpec s;
  auto ps = parse_errors(yaml, &s);
  ASSERT_TRUE(ps.empty()) << ps[0].str();
  EXPECT_EQ(s.programs, std::vector<std::string>{"python3*"});
  ASSERT_EQ(s.tiers.size(), 2u);
  EXPECT_EQ(s.tiers[0].name, "near");
  EXPECT_EQ(s.tiers[0].select, "lowest_latency");
  EXPECT_EQ(s.tiers[1].nodes, (std::vector<int>{2, 3}));
  EXPECT_EQ(s.tiers[1].mode, TierMode::kPreferred);
  EXPECT_EQ(s.tiers[1].limit, 8ull << 30);
  EXPECT_EQ(s.default_tier, "near");
  EXPECT_EQ(s.fallback, (std::vector<std::string>{"near", "cxl"}));
  EXPECT_EQ(s.on_exhausted, OnExhausted::kFail);
  EXPECT_EQ(s.stack_depth, 4);
  ASSERT_EQ(s.rules.size(), 1u);
  EXPECT_EQ(s.rules[0].name, "big");
  EXPECT_EQ(s.rules[0].size.lo, 64ull << 20);
  EXPECT_EQ(s.rules[0].apis, kApiMalloc | kApiCalloc | kApiMmap);
  EXPECT_EQ(s.rules[0].tier, "cxl");
  EXPECT_EQ(s.rules[0].fallback, std::vector<std::string>{"near"});
}

TEST(Parse, RuleWithoutApiMatchesEveryHeapInterfaceButNotMmap) {
  PolicySpec s;
  auto ps = parse_errors("tiers: {a: {nodes: [0]}}\nrules:\n  - match: {size: '>= 1MiB'}\n    tier: a\n", &s);
  ASSERT_TRUE(ps.empty());
  EXPECT_EQ(s.rules[0].apis, kApiHeap);
  EXPECT_EQ(s.rules[0].name, "rule-1");
}

TEST(Parse, UnknownKeysAreErrorsWithPosition) {
  auto ps = parse_errors("version: 1\ntiers:\n  a: { nodes: [0], speed: fast }\nrulez: []\n");
  EXPECT_TRUE(has_error(ps, 3, 20, "unknown key 'speed' in tier 'a'"));
  EXPECT_TRUE(has_error(ps, 4, 1, "unknown key 'rulez' in top level (expected one of version, programs, tiers"));
}

TEST(Parse, BadValues) {
  auto ps = parse_errors(
      "version: 2\n"
      "tiers:\n"
      "  a: { nodes: [0], mode: sideways, limit: much }\n"
      "  b: { nodes: [-1] }\n"
      "on_exhausted: panic\n"
      "stack_depth: 1000\n"
      "rules:\n"
      "  - match: { size: 'huge', api: [brk] }\n"
      "    tier: a\n");
  EXPECT_TRUE(has_error(ps, 1, 10, "unsupported version (expected 1)"));
  EXPECT_TRUE(has_error(ps, 3, 26, "unknown mode 'sideways' (expected one of preferred, bind, interleave)"));
  EXPECT_TRUE(has_error(ps, 3, 43, "expected a size such as"));
  EXPECT_TRUE(has_error(ps, 4, 16, "expected a NUMA node number"));
  EXPECT_TRUE(has_error(ps, 5, 15, "unknown on_exhausted 'panic' (expected one of fallback, fail, abort)"));
  EXPECT_TRUE(has_error(ps, 6, 14, "stack_depth must be an integer from 1 to 64"));
  EXPECT_TRUE(has_error(ps, 8, 20, "expected a size condition"));
  EXPECT_TRUE(has_error(ps, 8, 33, "unknown api 'brk' (expected one of malloc, calloc, realloc, aligned, new, mmap)"));
}

TEST(Parse, TierNeedsExactlyOneSource) {
  auto ps = parse_errors("tiers:\n  a: { mode: bind }\n  b: { nodes: [0], select: lowest_latency }\n");
  EXPECT_TRUE(has_error(ps, 2, 3, "tier 'a' needs exactly one of 'nodes', 'select', 'kind' or 'transient'"));
  EXPECT_TRUE(has_error(ps, 3, 3, "tier 'b' needs exactly one of"));
}

TEST(Parse, RulesNeedTierAndMatch) {
  auto ps = parse_errors("tiers: {a: {nodes: [0]}}\nrules:\n  - name: r\n    match: {size: '< 1'}\n  - tier: a\n");
  EXPECT_TRUE(has_error(ps, 3, 5, "rule 'r' has no 'tier'"));
  EXPECT_TRUE(has_error(ps, 5, 5, "rule 'rule-2' has no 'match'"));
}

TEST(Parse, SyntaxErrorNamesLineAndColumn) {
  auto ps = parse_errors("tiers:\n  a: { nodes: [0\n");
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_NE(ps[0].str().find("p.yaml:"), std::string::npos);
  EXPECT_NE(ps[0].message.find("YAML syntax"), std::string::npos) << ps[0].str();
  EXPECT_GT(ps[0].loc.line, 0);
}

TEST(Parse, EmptyAndNonMapDocuments) {
  auto ps = parse_errors("");
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_NE(ps[0].message.find("policy is empty"), std::string::npos);
  ps = parse_errors("- just\n- a list\n");
  EXPECT_TRUE(has_error(ps, 1, 1, "expected a mapping"));
}

TEST(Parse, HugePolicyIsRefused) {
  std::string big = "tiers: {a: {nodes: [0]}}\n# " + std::string(2 << 20, 'x') + "\n";
  auto ps = parse_errors(big);
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_NE(ps[0].message.find("at most"), std::string::npos);
}

// A 100 MB file is refused with its real size, without reading it all.
TEST(Parse, HugePolicyFileIsRefusedWithItsSize) {
  std::string path = ::testing::TempDir() + "tm-huge-policy.yaml";
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(ftruncate(fileno(f), 100000000), 0);
  fclose(f);
  PolicySpec s;
  std::vector<Problem> ps;
  EXPECT_FALSE(parse_policy_file(path, &s, &ps));
  unlink(path.c_str());
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0].str(), path + ": policy is 100000000 bytes (at most 1048576 are accepted)");
}

// Deep nesting never reaches yaml-cpp's recursion: one line naming where, for flow and block
// styles, 100000 levels or just past the limit; the schema's own depth (and a little more) passes.
TEST(Parse, DeepNestingIsRefused) {
  struct Case { std::string text; int line, col; };
  const Case cases[] = {
      {std::string(100000, '['), 1, 64},   // the document's level + 63 '['; the 64th is refused
      {std::string(100000, '{'), 1, 64},
      {"a: " + std::string(65, '['), 1, 67},
      {[] { std::string s; for (int i = 0; i < 100000; ++i) s += "- "; return s + "x\n"; }(), 1, 127},
      {[] { std::string s = "x:\n"; for (int i = 1; i <= 70; ++i) s += std::string(i, ' ') + "k" + std::to_string(i) + ":\n"; return s; }(), 65, 65},
      {"rules:\n  - match: " + std::string(70, '{') + "\n", 2, 73},
  };
  for (const auto& c : cases) {
    auto ps = parse_errors(c.text);
    ASSERT_EQ(ps.size(), 1u) << c.text.substr(0, 80);
    EXPECT_TRUE(has_error(ps, c.line, c.col, "nesting deeper than 64 levels (a policy needs at most 6): refused"))
        << ps[0].str();
  }
  // Brackets in quotes and comments do not count; 60 levels of flow are merely bad YAML values.
  EXPECT_TRUE(parse_errors("# " + std::string(200, '[') + "\nversion: 1\ntiers: {a: {nodes: [0]}}\ndefault: a\n"
                           "rules: [{match: {function: \"" + std::string(200, '{') + "\"}, tier: a}]\n").empty());
  auto ps = parse_errors("x: " + std::string(60, '[') + std::string(60, ']') + "\n");
  ASSERT_FALSE(ps.empty());
  EXPECT_EQ(ps[0].message.find("nesting"), std::string::npos) << ps[0].str();
}

TEST(Parse, MissingFile) {
  PolicySpec s;
  std::vector<Problem> ps;
  EXPECT_FALSE(parse_policy_file("/nonexistent/policy.yaml", &s, &ps));
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0].str(), "/nonexistent/policy.yaml: cannot open policy file");
}

TEST(Parse, DuplicateTierAndKey) {
  auto ps = parse_errors("tiers:\n  a: { nodes: [0] }\n  a: { nodes: [1] }\n");
  EXPECT_FALSE(ps.empty());
}

TEST(Parse, KindThresholdInitiator) {
  PolicySpec s;
  auto ps = parse_errors("tiers:\n  h: {kind: hbm}\n  w: {select: hbw, threshold: 100000, initiator: process}\n", &s);
  ASSERT_TRUE(ps.empty()) << ps[0].str();
  EXPECT_EQ(s.tiers[0].kind, "hbm");
  EXPECT_EQ(s.tiers[1].threshold, 100000);
  ps = parse_errors(
      "tiers:\n"
      "  a: {select: lowest_latency, threshold: 5}\n"
      "  b: {select: hbw, threshold: fast}\n"
      "  c: {select: hbw, initiator: socket}\n"
      "  d: {kind: hbm, nodes: [1]}\n");
  EXPECT_TRUE(has_error(ps, 2, 42, "'threshold' applies to 'select: hbw' only"));
  EXPECT_TRUE(has_error(ps, 3, 31, "expected a read bandwidth in MB/s"));
  EXPECT_TRUE(has_error(ps, 4, 31, "unknown initiator 'socket' (expected process or thread)"));
  EXPECT_TRUE(has_error(ps, 5, 3, "tier 'd' needs exactly one of"));
}
