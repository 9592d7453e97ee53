// SPDX-License-Identifier: MIT
// The policy pieces the preload library runs from many threads at once, run from many
// threads at once, for ThreadSanitizer (scripts/sanitize.sh tsan) as much as for the result:
// call-site naming (dladdr, the ELF symbol table read through its own mapping) and site
// matching on a shared compiled policy, the compiled plans read concurrently, and parsing
// and compiling (yaml-cpp) in several threads.  Every thread's answers must equal the
// single-threaded ones.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "policy/callsite.hpp"
#include "policy/compile.hpp"
#include "policy/match.hpp"

using namespace tiermalloc;
using namespace tiermalloc::policy;

namespace {

__attribute__((noinline)) uintptr_t static_site() { return reinterpret_cast<uintptr_t>(__builtin_return_address(0)); }
__attribute__((noinline)) uintptr_t caller_of_static() {
  volatile uintptr_t ra = static_site();  // not a tail call: the return address is in here
  return ra;
}

topo::Machine machine() {
  topo::Machine m;
  m.initiators = {0};
  for (int id = 0; id < 3; ++id) {
    topo::Node n;
    n.id = id;
    n.capacity = 1ull << 30;
    n.distance = id == 0 ? 10 : 20 + id;
    n.read_lat = n.write_lat = 80 + 50 * id;
    n.read_bw = n.write_bw = id == 2 ? 160000 : 40000 / (id + 1);
    m.nodes.push_back(n);
  }
  return m;
}

const char* kPolicy = R"(version: 1
tiers:
  near: { nodes: [0] }
  cxl:  { nodes: [1] }
  hbm:  { nodes: [2] }
default: near
wrappers: ["*wrap*"]
rules:
  - { name: libc, match: { module: "libc.so*" }, tier: cxl }
  - { name: unit, match: { function: "*caller_of_static*" }, tier: hbm }
  - { name: big, match: { size: ">= 1MiB", api: [malloc, new] }, tier: cxl }
  - { name: mid, match: { size: "4KiB..1MiB" }, tier: hbm }
)";

std::unique_ptr<CompiledPolicy> compiled(const std::string& text) {
  PolicySpec s;
  std::vector<Problem> ps;
  std::vector<std::string> notes;
  auto c = std::make_unique<CompiledPolicy>();
  EXPECT_TRUE(parse_policy_text(text, "t.yaml", &s, &ps)) << (ps.empty() ? "" : ps[0].str());
  EXPECT_TRUE(compile_policy(s, machine(), c.get(), &ps, &notes)) << (ps.empty() ? "" : ps[0].str());
  return c;
}

struct Answer {
  SiteName name;
  SiteTraits traits;
  bool ok;
};

}  // namespace

TEST(Concurrency, SiteNamingAndMatching) {
  auto c = compiled(kPolicy);
  // Addresses in the test binary (a static function: .symtab), libc (exported), libstdc++
  // and yaml-cpp (other modules), and one in no module.
  // libc's own getpid, by its handle: a sanitizer's runtime may intercept what a plain &f names.
  void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(libc, nullptr);
  std::vector<uintptr_t> ras = {caller_of_static(), reinterpret_cast<uintptr_t>(dlsym(libc, "getpid")) + 1,
                                reinterpret_cast<uintptr_t>(static_cast<void* (*)(size_t)>(&::operator new)) + 1,
                                reinterpret_cast<uintptr_t>(&compile_policy) + 1, uintptr_t{16}};
  std::vector<Answer> want(ras.size());
  for (size_t i = 0; i < ras.size(); ++i) {
    want[i].ok = resolve_site(ras[i], &want[i].name);
    if (want[i].ok) want[i].traits = site_traits(*c, want[i].name);
  }
  ASSERT_TRUE(want[0].ok);
  EXPECT_NE(std::string(want[0].name.symbol).find("caller_of_static"), std::string::npos) << want[0].name.symbol;
  EXPECT_TRUE(want[0].traits.mask & 2) << "rule 'unit' should hold at " << want[0].name.symbol;
  ASSERT_TRUE(want[1].ok);
  EXPECT_TRUE(want[1].traits.mask & 1) << "rule 'libc' should hold in " << want[1].name.module;
  EXPECT_FALSE(want.back().ok);

  constexpr int kThreads = 8, kRounds = 200;
  std::vector<int> mismatches(kThreads);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r)
        for (size_t i = 0; i < ras.size(); ++i) {
          Answer a;
          a.ok = resolve_site(ras[(i + t) % ras.size()], &a.name);
          const Answer& w = want[(i + t) % ras.size()];
          if (a.ok != w.ok) { ++mismatches[t]; continue; }
          if (!a.ok) continue;
          a.traits = site_traits(*c, a.name);
          if (strcmp(a.name.module, w.name.module) || strcmp(a.name.symbol, w.name.symbol) ||
              a.name.offset != w.name.offset || a.traits.mask != w.traits.mask ||
              a.traits.stack_bits != w.traits.stack_bits || a.traits.wrapper != w.traits.wrapper)
            ++mismatches[t];
        }
    });
  for (auto& t : ts) t.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

TEST(Concurrency, PlansReadWhileOtherThreadsBuildTheirOwn) {
  auto c = compiled(kPolicy);
  const uint64_t sizes[] = {0, 1, 4095, 4096, 65536, (1u << 20) - 1, 1u << 20, uint64_t{1} << 40, UINT64_MAX};
  std::vector<int> want;
  for (uint64_t s : sizes)
    for (int a = 0; a < kApiCount; ++a) want.push_back(c->plan.api[a].tier_of(s));
  std::vector<int> bad(6);
  std::vector<std::thread> ts;
  for (int t = 0; t < 6; ++t)
    ts.emplace_back([&, t] {
      SitePlan own;
      for (int r = 0; r < 2000; ++r) {
        build_plan(*c, (r & 1) ? c->site_free_mask : ~uint64_t{0} >> (64 - c->nrules), &own);  // a thread's own
        size_t k = 0;
        int rule;
        for (uint64_t s : sizes)
          for (int a = 0; a < kApiCount; ++a, ++k) {
            int got = c->plan.api[a].tier_of(s);
            if (got != want[k] || got != c->plan.tier_for(s, 1u << a, &rule)) ++bad[t];
          }
      }
    });
  for (auto& t : ts) t.join();
  for (int t = 0; t < 6; ++t) EXPECT_EQ(bad[t], 0) << "thread " << t;
}

TEST(Concurrency, ParseAndCompileInParallel) {
  const std::string texts[] = {kPolicy, "tiers: {a: {nodes: [0]}}\ndefault: a\n",
                               "tiers: {a: {select: fastest}}\n", "version: 1\ntiers: [\n"};
  struct R { bool parsed, compiled; int ntiers, nrules; size_t problems; };
  auto run = [&](const std::string& text) {
    PolicySpec s;
    std::vector<Problem> ps;
    std::vector<std::string> notes;
    auto c = std::make_unique<CompiledPolicy>();
    R r{};
    r.parsed = parse_policy_text(text, "p.yaml", &s, &ps);
    r.compiled = r.parsed && compile_policy(s, machine(), c.get(), &ps, &notes);
    r.ntiers = r.compiled ? c->ntiers : -1;
    r.nrules = r.compiled ? c->nrules : -1;
    r.problems = ps.size();
    return r;
  };
  std::vector<R> want;
  for (const auto& t : texts) want.push_back(run(t));
  EXPECT_TRUE(want[0].compiled);
  EXPECT_EQ(want[0].ntiers, 4);
  EXPECT_FALSE(want[3].parsed);
  std::vector<int> bad(4);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (int r = 0; r < 50; ++r)
        for (size_t i = 0; i < std::size(texts); ++i) {
          R got = run(texts[(i + t) % std::size(texts)]);
          const R& w = want[(i + t) % std::size(texts)];
          if (got.parsed != w.parsed || got.compiled != w.compiled || got.ntiers != w.ntiers ||
              got.nrules != w.nrules || got.problems != w.problems)
            ++bad[t];
        }
    });
  for (auto& t : ts) t.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(bad[t], 0) << "thread " << t;
}
