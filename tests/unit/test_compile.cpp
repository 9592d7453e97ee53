// SPDX-License-Identifier: MIT
// From model to compiled plan: tier resolution, fallback chains, unavailable tiers.
#include <gtest/gtest.h>

#include "policy/compile.hpp"

using namespace tiermalloc;
using namespace tiermalloc::policy;

namespace {

topo::Machine two_nodes() {
  topo::Machine m;
  m.provider = "test";
  m.initiators = {0};
  topo::Node a;
  a.id = 0; a.has_cpus = true; a.capacity = 8ull << 30; a.distance = 10;
  a.read_lat = 80; a.write_lat = 90; a.read_bw = 40000; a.write_bw = 30000; a.source = "hmat";
  topo::Node b = a;
  b.id = 1; b.has_cpus = false; b.capacity = 64ull << 30; b.distance = 24;
  b.read_lat = 250; b.write_lat = 300; b.read_bw = 10000; b.write_bw = 8000;
  m.nodes = {a, b};
  return m;
}

struct Compiled {
  CompiledPolicy c;
  std::vector<Problem> problems;
  std::vector<std::string> notes;
  bool ok = false;
};

std::unique_ptr<Compiled> compile(const std::string& yaml, const topo::Machine& m = two_nodes()) {
  auto out = std::make_unique<Compiled>();
  PolicySpec s;
  if (!parse_policy_text(yaml, "p.yaml", &s, &out->problems)) return out;
  out->ok = compile_policy(s, m, &out->c, &out->problems, &out->notes);
  return out;
}

int tier_named(const CompiledPolicy& c, const char* name) {
  for (int i = 0; i < c.ntiers; ++i)
    if (std::string(c.tiers[i].name) == name) return i;
  return -1;
}

}  // namespace

TEST(Compile, SizeRulesFirstMatchWins) {
  auto r = compile(
      "tiers:\n  near: {select: lowest_latency}\n  far: {nodes: [1], mode: bind}\n"
      "default: near\nrules:\n"
      "  - {name: huge, match: {size: '>= 1GiB'}, tier: near}\n"
      "  - {name: big, match: {size: '>= 1MiB'}, tier: far}\n");
  ASSERT_TRUE(r->ok) << r->problems[0].str();
  const auto& c = r->c;
  int near = tier_named(c, "near"), far = tier_named(c, "far"), rule;
  ASSERT_EQ(near, 1);
  ASSERT_EQ(far, 2);
  EXPECT_EQ(c.plan.tier_for(100, kApiMalloc, &rule), near);
  EXPECT_EQ(rule, -1);
  EXPECT_EQ(c.plan.tier_for((1 << 20) - 1, kApiMalloc, &rule), near);
  EXPECT_EQ(c.plan.tier_for(1 << 20, kApiNew, &rule), far);
  EXPECT_EQ(rule, 1);
  EXPECT_EQ(c.plan.tier_for(2ull << 30, kApiCalloc, &rule), near);
  EXPECT_EQ(rule, 0);
  // A rule without `api` never places mmap.
  EXPECT_EQ(c.plan.tier_for(1 << 20, kApiMmap, &rule), near);
  EXPECT_FALSE(c.has_mmap_rules);
  EXPECT_EQ(c.tiers[near].nodes.count(), 1);
  EXPECT_TRUE(c.tiers[near].nodes.test(0));
  EXPECT_TRUE(c.tiers[far].nodes.test(1));
  EXPECT_EQ(c.tiers[far].mode, TierMode::kBind);
}

TEST(Compile, ApiRestrictsRules) {
  auto r = compile("tiers: {far: {nodes: [1]}}\nrules:\n  - {match: {api: [mmap, calloc]}, tier: far}\n");
  ASSERT_TRUE(r->ok);
  int rule;
  EXPECT_EQ(r->c.plan.tier_for(10, kApiCalloc, &rule), 1);
  EXPECT_EQ(r->c.plan.tier_for(10, kApiMmap, &rule), 1);
  EXPECT_EQ(r->c.plan.tier_for(10, kApiMalloc, &rule), 0);  // no default: plain
  EXPECT_TRUE(r->c.has_mmap_rules);
}

TEST(Compile, MissingNodeMakesTierUnavailableAndPlanFollowsFallback) {
  auto r = compile(
      "tiers:\n  near: {nodes: [0]}\n  hbm: {nodes: [7]}\n"
      "default: near\nfallback: [near]\nrules:\n  - {match: {size: '>= 1MiB'}, tier: hbm}\n");
  ASSERT_TRUE(r->ok) << r->problems[0].str();
  int hbm = tier_named(r->c, "hbm"), near = tier_named(r->c, "near"), rule;
  EXPECT_FALSE(r->c.tiers[hbm].available);
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_NE(r->notes[0].find("tier 'hbm' cannot be built here: node(s) 7 have no memory on this machine"), std::string::npos)
      << r->notes[0];
  EXPECT_EQ(r->c.plan.tier_for(2 << 20, kApiMalloc, &rule), near);
}

TEST(Compile, RuleFallbackOverridesGlobalChain) {
  auto r = compile(
      "tiers:\n  a: {nodes: [0]}\n  b: {nodes: [1]}\n  gone: {nodes: [9]}\n"
      "fallback: [a]\nrules:\n  - {match: {size: '>= 1MiB'}, tier: gone, fallback: [b]}\n");
  ASSERT_TRUE(r->ok);
  int rule;
  EXPECT_EQ(r->c.plan.tier_for(1 << 20, kApiMalloc, &rule), tier_named(r->c, "b"));
  const auto& cr = r->c.rules[0];
  ASSERT_EQ(cr.nfallback, 1);
  EXPECT_EQ(cr.fallback[0], tier_named(r->c, "b"));
  // The global chain, minus the tier itself, is each tier's own chain.
  const auto& tb = r->c.tiers[tier_named(r->c, "b")];
  ASSERT_EQ(tb.nfallback, 1);
  EXPECT_EQ(tb.fallback[0], tier_named(r->c, "a"));
}

TEST(Compile, ErrorsLeaveThePlainPolicy) {
  auto r = compile(
      "tiers:\n  a: {select: fastest}\n  plain: {nodes: [0]}\ndefault: nowhere\nfallback: [zzz]\n"
      "rules:\n  - {match: {size: '>1'}, tier: b}\n  - {match: {stack: [a, b, c, d, e]}, tier: a}\n");
  EXPECT_FALSE(r->ok);
  std::string all;
  for (const auto& p : r->problems) all += p.str() + "\n";
  EXPECT_NE(all.find("p.yaml:2:15: unknown selector 'fastest' (expected one of highest_bandwidth, lowest_latency, highest_capacity, hbw)"), std::string::npos) << all;
  EXPECT_NE(all.find("p.yaml:3:3: tier name 'plain' is reserved"), std::string::npos) << all;
  EXPECT_NE(all.find("p.yaml:4:10: unknown default tier 'nowhere'"), std::string::npos) << all;
  EXPECT_NE(all.find("p.yaml:5:11: unknown tier 'zzz' in fallback"), std::string::npos) << all;
  EXPECT_NE(all.find("unknown tier 'b' in rule 'rule-1'"), std::string::npos) << all;
  EXPECT_NE(all.find("at most 4 module, function and stack patterns each"), std::string::npos) << all;
  EXPECT_EQ(r->c.ntiers, 1);
  EXPECT_EQ(r->c.plan.nentries, 0);
}

TEST(Compile, SelectorsResolveOnTheMachine) {
  auto r = compile("tiers:\n  fast: {select: lowest_latency}\n  big: {select: highest_capacity}\n  bw: {select: highest_bandwidth}\n");
  ASSERT_TRUE(r->ok);
  EXPECT_TRUE(r->c.tiers[1].nodes.test(0));
  EXPECT_TRUE(r->c.tiers[2].nodes.test(1));
  EXPECT_TRUE(r->c.tiers[3].nodes.test(0));
  EXPECT_NE(std::string(r->c.tiers[1].why).find("lowest latency"), std::string::npos) << r->c.tiers[1].why;
}

TEST(Compile, TransientTiers) {
  auto r = compile("tiers:\n  near: {nodes: [0]}\n  scratch: {transient: {path: /tmp, size: 1GiB}}\n"
                   "  gone: {transient: {path: /nonexistent/dir}}\nfallback: [near]\n");
  ASSERT_TRUE(r->ok) << r->problems[0].str();
  EXPECT_TRUE(r->c.tiers[2].transient);
  EXPECT_TRUE(r->c.tiers[2].available);
  EXPECT_STREQ(r->c.tiers[2].path, "/tmp");
  EXPECT_EQ(r->c.tiers[2].transient_size, 1ull << 30);
  EXPECT_FALSE(r->c.tiers[3].available);
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_NE(r->notes[0].find("transient path /nonexistent/dir is not a directory here"), std::string::npos) << r->notes[0];
  auto bad = compile("tiers:\n  s: {transient: {size: 1GiB, where: x}}\n");
  EXPECT_FALSE(bad->ok);
  std::string all;
  for (const auto& p : bad->problems) all += p.str() + "\n";
  EXPECT_NE(all.find("unknown key 'where' in transient tier 's' (expected one of path, size)"), std::string::npos) << all;
  EXPECT_NE(all.find("transient tier 's' has no 'path'"), std::string::npos) << all;
  auto mm = compile("tiers:\n  s: {transient: {path: /tmp}}\nrules:\n  - {name: m, match: {api: [mmap]}, tier: s}\n");
  EXPECT_FALSE(mm->ok);
  ASSERT_FALSE(mm->problems.empty());
  EXPECT_NE(mm->problems[0].str().find("rule 'm': api mmap cannot go to transient tier 's'"), std::string::npos)
      << mm->problems[0].str();
}

// The hot path's per-interface intervals must answer exactly as first-match over the rules.
TEST(Compile, ApiPlansAgreeWithFirstMatch) {
  auto r = compile(
      "tiers:\n  a: {nodes: [0]}\n  b: {nodes: [1]}\ndefault: a\nrules:\n"
      "  - {match: {size: '< 64'}, tier: a}\n"
      "  - {match: {size: '4KiB..64KiB'}, tier: b}\n"
      "  - {match: {size: '256..1KiB', api: [calloc]}, tier: b}\n"
      "  - {match: {size: '== 4096', api: [new]}, tier: a}\n"
      "  - {match: {size: '>= 1MiB'}, tier: b}\n"
      "  - {match: {size: '> 1TiB', api: [mmap]}, tier: b}\n");
  ASSERT_TRUE(r->ok);
  const SitePlan& p = r->c.plan;
  std::vector<uint64_t> sizes = {0, 1, 63, 64, 65, 255, 256, 1023, 1024, 1025, 4095, 4096, 4097, 65535, 65536, 65537,
                                 (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 1ull << 40, (1ull << 40) + 1, UINT64_MAX};
  for (int a = 0; a < kApiCount; ++a)
    for (uint64_t s : sizes) {
      int rule;
      EXPECT_EQ(p.api[a].tier_of(s), static_cast<unsigned>(p.tier_for(s, 1u << a, &rule))) << "api " << a << " size " << s;
    }
  // malloc sees: [0,64) a, [64,4KiB) a (default), [4KiB,64KiB] b, ... -> a few intervals only;
  // the first two merge (same tier, different rules): small sizes take one compare.
  const ApiPlan& m = p.api[api_index(kApiMalloc)];
  EXPECT_LE(m.nbounds, 3);
  EXPECT_EQ(m.bound[0], 4096u);
}

TEST(Compile, TwoTierPolicyIsOneCompare) {
  auto r = compile("tiers:\n  a: {nodes: [0]}\n  b: {nodes: [1]}\ndefault: a\nrules:\n  - {match: {size: '>= 1MiB'}, tier: b}\n");
  ASSERT_TRUE(r->ok);
  const ApiPlan& m = r->c.plan.api[api_index(kApiMalloc)];
  ASSERT_EQ(m.nbounds, 1);
  EXPECT_EQ(m.bound[0], 1u << 20);
  EXPECT_EQ(m.tier_of(100), 1u);
  EXPECT_EQ(m.tier_of(1 << 20), 2u);
  EXPECT_EQ(r->c.plan.api[api_index(kApiMmap)].nbounds, 0);
}

TEST(Compile, KindAndHbwTiers) {
  auto r = compile("tiers:\n  c: {kind: cxl}\n  h: {select: hbw}\n  p: {kind: pmem}\nfallback: [c]\n");
  ASSERT_TRUE(r->ok) << r->problems[0].str();
  // two_nodes(): node 1 is memory-only and slow.  compile() takes the machine as given, so
  // kinds come from classify().
  EXPECT_FALSE(r->c.tiers[1].available);  // kinds are unset on this hand-made machine
  auto m = two_nodes();
  topo::classify(&m);
  r = compile("tiers:\n  c: {kind: cxl}\n  h: {select: hbw, threshold: 20000}\n  p: {kind: pmem}\nfallback: [c]\n", m);
  ASSERT_TRUE(r->ok) << r->problems[0].str();
  EXPECT_TRUE(r->c.tiers[1].available);
  EXPECT_TRUE(r->c.tiers[1].nodes.test(1));
  EXPECT_TRUE(r->c.tiers[2].nodes.test(0));  // only node 0 reads at >= 20000 MB/s
  EXPECT_FALSE(r->c.tiers[2].nodes.test(1));
  EXPECT_FALSE(r->c.tiers[3].available);
  bool noted = false;
  for (const auto& n : r->notes) noted = noted || n.find("tier 'p' cannot be built here: kind pmem") != std::string::npos;
  EXPECT_TRUE(noted);
  auto bad = compile("tiers:\n  x: {kind: sram}\n");
  EXPECT_FALSE(bad->ok);
  EXPECT_NE(bad->problems[0].str().find("p.yaml:2:13: unknown kind 'sram' (expected one of dram, hbm, cxl, pmem)"), std::string::npos)
      << bad->problems[0].str();
}

TEST(Compile, BindTierWithoutLimitGetsTheNodesFreeMemoryAsBudget) {
  auto m = two_nodes();
  m.nodes[1].free = 10ull << 30;
  auto r = compile("tiers:\n  b: {nodes: [1], mode: bind}\n  l: {nodes: [1], mode: bind, limit: 1GiB}\n  p: {nodes: [1]}\n", m);
  ASSERT_TRUE(r->ok);
  EXPECT_EQ(r->c.tiers[1].bind_budget, 10ull << 30);
  EXPECT_EQ(r->c.tiers[2].bind_budget, 0u);  // an explicit limit wins
  EXPECT_EQ(r->c.tiers[3].bind_budget, 0u);  // preferred may spill: no budget
}

// `initiator: thread` on a machine with two initiators, read from a sysfs stand-in
// (tests/topology/fake_sysfs.py): each initiator node gets its own pick.
TEST(Compile, PerThreadViewsFromSysfs) {
  char dir[] = "/tmp/tm-fake-sysfs-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string cmd = std::string("python3 ") + TM_SOURCE_DIR + "/tests/topology/fake_sysfs.py " + dir;
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  topo::Machine m = topo::load_sysfs(dir);
  std::system((std::string("rm -rf ") + dir).c_str());
  ASSERT_EQ(m.nodes.size(), 3u);
  EXPECT_EQ(m.find(2)->hmat_initiators, std::vector<int>{0});
  EXPECT_EQ(m.node_of_cpu(1), 1);
  EXPECT_EQ(m.find(2)->kind, "hbm");
  EXPECT_EQ(m.find(1)->kind, "dram");  // it holds a CPU
  topo::Machine from1 = m.view_from(1);
  ASSERT_EQ(from1.nodes.size(), 1u);  // only node 1's figures are relative to node 1
  EXPECT_EQ(from1.nodes[0].id, 1);
  EXPECT_EQ(topo::select_nodes(m.view_from(0), topo::Selector::kHighestBandwidth).nodes, std::vector<int>{2});

  auto r = compile("tiers:\n  fast: {select: highest_bandwidth, initiator: thread}\n  all: {select: highest_bandwidth}\n", m);
  ASSERT_TRUE(r->ok) << r->problems[0].str();
  const CompiledTier& t = r->c.tiers[1];
  ASSERT_EQ(t.nviews, 2);
  EXPECT_EQ(t.view_initiator[0], 0);
  EXPECT_TRUE(t.view_nodes[0].test(2));
  EXPECT_EQ(t.view_initiator[1], 1);
  EXPECT_TRUE(t.view_nodes[1].test(1));
  EXPECT_FALSE(t.view_nodes[1].test(2));
  EXPECT_NE(std::string(t.why).find("per thread, from node 0: 2, from node 1: 1"), std::string::npos) << t.why;
  EXPECT_EQ(r->c.tiers[2].nviews, 0);
  EXPECT_EQ(r->c.cpu_node[0], 0);
  EXPECT_EQ(r->c.cpu_node[1], 1);
}
