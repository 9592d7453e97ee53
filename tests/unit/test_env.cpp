// SPDX-License-Identifier: MIT
// Environment overrides: the short rule form, and their precedence over the file.
#include <gtest/gtest.h>

#include "policy/compile.hpp"
#include "policy/env_overrides.hpp"

using namespace tiermalloc;
using namespace tiermalloc::policy;

namespace {
const char* kPolicy =
    "tiers:\n  near: {nodes: [0]}\n  hbm: {nodes: [0], limit: 1GiB}\n  big: {nodes: [0]}\n"
    "default: near\nrules:\n  - {name: file-rule, match: {size: '>= 1MiB'}, tier: big}\n";

std::string all(const std::vector<Problem>& ps) {
  std::string s;
  for (const auto& p : ps) s += p.str() + "\n";
  return s;
}
}  // namespace

TEST(EnvRules, ShortForm) {
  std::vector<RuleSpec> rules;
  std::vector<Problem> ps;
  ASSERT_TRUE(parse_rules_short("size>=64MiB:scratch;function=foo*,api=new|calloc:hbm;module=libx.so,size=4KiB..1MiB:near", &rules, &ps))
      << all(ps);
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(rules[0].name, "env-1");
  EXPECT_EQ(rules[0].size.lo, 64ull << 20);
  EXPECT_EQ(rules[0].tier, "scratch");
  EXPECT_EQ(rules[1].function, std::vector<std::string>{"foo*"});
  EXPECT_EQ(rules[1].apis, kApiNew | kApiCalloc);
  EXPECT_EQ(rules[1].tier, "hbm");
  EXPECT_EQ(rules[2].module, std::vector<std::string>{"libx.so"});
  EXPECT_EQ(rules[2].size.lo, 4096u);
  EXPECT_EQ(rules[2].size.hi, 1u << 20);
}

TEST(EnvRules, ErrorsNameTheColumn) {
  std::vector<RuleSpec> rules;
  std::vector<Problem> ps;
  EXPECT_FALSE(parse_rules_short("size>=64MiB:hbm;colour=red:near;api=brk:near;size>=lots:near;nothing", &rules, &ps));
  std::string s = all(ps);
  EXPECT_NE(s.find("TIERMALLOC_RULES:1:17: unknown condition 'colour=red'"), std::string::npos) << s;
  EXPECT_NE(s.find("TIERMALLOC_RULES:1:37: unknown api 'brk'"), std::string::npos) << s;
  EXPECT_NE(s.find("TIERMALLOC_RULES:1:50: expected a size such as"), std::string::npos) << s;
  EXPECT_NE(s.find("TIERMALLOC_RULES:1:62: rule 'nothing' has no ':TIER'"), std::string::npos) << s;
}

TEST(EnvRules, EnvironmentBeatsTheFile) {
  PolicySpec spec;
  std::vector<Problem> ps;
  ASSERT_TRUE(parse_policy_text(kPolicy, "p.yaml", &spec, &ps));
  char* env[] = {const_cast<char*>("TIERMALLOC_RULES=size>=1MiB:hbm"), const_cast<char*>("TIERMALLOC_DEFAULT_TIER=big"),
                 const_cast<char*>("TIERMALLOC_TIER_HBM_LIMIT=2GiB"), const_cast<char*>("PATH=/bin"), nullptr};
  EnvOverrides o = overrides_from_environ(env);
  ASSERT_TRUE(apply_overrides(o, &spec, &ps)) << all(ps);
  ASSERT_EQ(spec.rules.size(), 2u);
  EXPECT_EQ(spec.rules[0].tier, "hbm");  // tried before the file's rule
  EXPECT_EQ(spec.default_tier, "big");
  EXPECT_EQ(spec.tiers[1].limit, 2ull << 30);
  topo::Machine m;
  m.initiators = {0};
  topo::Node n;
  n.id = 0;
  n.has_cpus = true;
  m.nodes = {n};
  auto c = std::make_unique<CompiledPolicy>();
  std::vector<std::string> notes;
  ASSERT_TRUE(compile_policy(spec, m, c.get(), &ps, &notes)) << all(ps);
  int rule;
  EXPECT_EQ(std::string(c->tiers[c->plan.tier_for(4 << 20, kApiMalloc, &rule)].name), "hbm");
  EXPECT_EQ(std::string(c->rules[rule].name), "env-1");
  EXPECT_EQ(std::string(c->tiers[c->plan.tier_for(10, kApiMalloc, &rule)].name), "big");
}

TEST(EnvRules, BadVariablesAreNamed) {
  PolicySpec spec;
  std::vector<Problem> ps;
  ASSERT_TRUE(parse_policy_text(kPolicy, "p.yaml", &spec, &ps));
  char* env[] = {const_cast<char*>("TIERMALLOC_DEFAULT_TIER=fast"), const_cast<char*>("TIERMALLOC_TIER_NOPE_LIMIT=1GiB"),
                 const_cast<char*>("TIERMALLOC_TIER_HBM_LIMIT=lots"), nullptr};
  EXPECT_FALSE(apply_overrides(overrides_from_environ(env), &spec, &ps));
  std::string s = all(ps);
  EXPECT_NE(s.find("TIERMALLOC_DEFAULT_TIER: unknown tier 'fast'"), std::string::npos) << s;
  EXPECT_NE(s.find("TIERMALLOC_TIER_NOPE_LIMIT: no tier named 'NOPE'"), std::string::npos) << s;
  EXPECT_NE(s.find("TIERMALLOC_TIER_HBM_LIMIT: expected a size"), std::string::npos) << s;
}
