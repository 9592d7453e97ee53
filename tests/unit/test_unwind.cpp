// SPDX-License-Identifier: MIT
// The fast stack walk's CFI interpreter (interpose/unwind.cpp) on real code: the return
// addresses it finds must be exactly libgcc's _Unwind_Backtrace's, frame for frame, to the
// end of the stack, through frames with and without frame pointers, VLA frames (CFA from
// rbp in -fomit-frame-pointer code) and deep recursion; a signal frame must make it give up
// (kWalkSlow), never guess; a recorded walk re-walks only on the same stack.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unwind.h>

#include <cstring>
#include <string>
#include <vector>

#include "interpose/unwind.hpp"
#include "unwind/chains.hpp"

// The preload library's raw mmap wrappers, which unwind.cpp's table uses.
extern "C" void* tiermalloc_sys_mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  return mmap(addr, len, prot, flags, fd, off);
}
extern "C" int tiermalloc_sys_munmap(void* addr, size_t len) { return munmap(addr, len); }

namespace uw = tiermalloc::unwind;

namespace {

constexpr int kCap = 1024;
struct Probe {
  int want = 1000;
  uw::WalkStatus status;
  int n = 0, first = -1;
  uintptr_t pcs[kCap];
  uw::Rule rules[kCap];
  std::vector<uintptr_t> ub;  // _Unwind_Backtrace's IPs, from the probe's caller on
  bool rewalk_same = false, rewalk_changed = true;
};

_Unwind_Reason_Code collect(struct _Unwind_Context* ctx, void* arg) {
  auto* v = static_cast<std::vector<uintptr_t>*>(arg);
  v->push_back(_Unwind_GetIP(ctx));
  return v->size() > kCap ? _URC_END_OF_STACK : _URC_NO_REASON;
}

// The site is probe's own return address: frames from its caller outwards.
__attribute__((noinline)) void probe(void* arg) {
  auto* p = static_cast<Probe*>(arg);
  uw::Regs regs;
  TM_CAPTURE_REGS(regs);
  uintptr_t site = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  p->status = uw::walk(regs, site, p->want, p->pcs, p->rules, kCap, &p->n, &p->first);
  if (p->status == uw::kWalkOk) {
    p->rewalk_same = uw::rewalk(regs, p->pcs, p->rules, p->n);
    uintptr_t saved = p->pcs[p->n - 1];
    p->pcs[p->n - 1] ^= 0x10;
    p->rewalk_changed = uw::rewalk(regs, p->pcs, p->rules, p->n);
    p->pcs[p->n - 1] = saved;
  }
  _Unwind_Backtrace(collect, &p->ub);
  if (!p->ub.empty()) p->ub.erase(p->ub.begin());  // the frame inside probe
  asm volatile("" ::: "memory");
}

std::string name_of(uintptr_t ra) {
  Dl_info info;
  if (ra && dladdr(reinterpret_cast<void*>(ra - 1), &info) && info.dli_sname) return info.dli_sname;
  return "?";
}

// The walk's frames from the site on, without its terminating 0.
std::vector<uintptr_t> fast_frames(const Probe& p) {
  std::vector<uintptr_t> v;
  for (int i = p.first; i < p.n; ++i)
    if (p.pcs[i]) v.push_back(p.pcs[i]);
  return v;
}

// The rule that unwound the frame of the first return address inside `fn`.
const uw::Rule* rule_in(const Probe& p, const char* fn) {
  for (int i = p.first; i + 1 < p.n; ++i)
    if (name_of(p.pcs[i]) == fn) return &p.rules[i];
  return nullptr;
}

void expect_same_as_libgcc(const Probe& p) {
  ASSERT_EQ(p.status, uw::kWalkOk) << "walk status";
  EXPECT_EQ(p.first, 1) << "probe's own frame, then the site";
  EXPECT_EQ(p.pcs[p.n - 1], 0u) << "the walk reached the end of the stack (_start)";
  std::vector<uintptr_t> fast = fast_frames(p);
  std::vector<uintptr_t> slow = p.ub;
  // libgcc reports the context past the outermost frame too (IP 0): the walk ends there.
  if (!slow.empty() && slow.back() == 0) slow.pop_back();
  ASSERT_EQ(fast.size(), slow.size()) << "frames found by the fast walk vs _Unwind_Backtrace";
  for (size_t i = 0; i < fast.size(); ++i)
    EXPECT_EQ(fast[i], slow[i]) << "frame " << i << ": " << name_of(fast[i]) << " vs " << name_of(slow[i]);
  EXPECT_TRUE(p.rewalk_same) << "re-walking the recorded rules on the same stack";
  EXPECT_FALSE(p.rewalk_changed) << "a recorded walk whose last return address differs must not match";
}

}  // namespace

TEST(Unwind, FramePointerChainEqualsLibgcc) {
  Probe p;
  fp_a(probe, &p);
  expect_same_as_libgcc(p);
  EXPECT_EQ(name_of(p.pcs[1]), "fp_b");
  EXPECT_EQ(name_of(p.pcs[2]), "fp_a");
  const uw::Rule* r = rule_in(p, "fp_b");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->cfa_rbp, 1) << "-fno-omit-frame-pointer: CFA = rbp + 16";
  EXPECT_EQ(r->cfa_off, 16);
  EXPECT_EQ(r->rbp_saved, 1);
  EXPECT_EQ(r->rbp_off, -16);
  EXPECT_EQ(r->ra_off, -8);
}

TEST(Unwind, NoFramePointerChainEqualsLibgcc) {
  Probe p;
  nofp_a(probe, &p);
  expect_same_as_libgcc(p);
  EXPECT_EQ(name_of(p.pcs[1]), "nofp_b");
  EXPECT_EQ(name_of(p.pcs[2]), "nofp_a");
  const uw::Rule* r = rule_in(p, "nofp_b");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->cfa_rbp, 0) << "-fomit-frame-pointer: CFA = rsp + offset";
  EXPECT_EQ(r->rbp_saved, 0);
}

TEST(Unwind, VlaFrameIsRbpBased) {
  Probe p;
  nofp_vla(probe, &p, 3000);
  expect_same_as_libgcc(p);
  const uw::Rule* r = rule_in(p, "nofp_vla");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->cfa_rbp, 1) << "a VLA frame's CFA comes from rbp";
  EXPECT_EQ(r->rbp_saved, 1);
}

TEST(Unwind, MixedChainEqualsLibgcc) {
  Probe p;
  mixed(probe, &p);
  expect_same_as_libgcc(p);
  std::vector<std::string> names;
  for (int i = 1; i < 8 && i < p.n; ++i) names.push_back(name_of(p.pcs[i]));
  ASSERT_GE(names.size(), 3u);
  EXPECT_EQ(names[0], "nofp_vla");
  // nofp_vla's rbp-based CFA needs the rbp its callers saved: found only if every rule
  // between carried rbp right (fp frames save it, nofp frames leave it).
  EXPECT_NE(std::find(names.begin(), names.end(), "fp_b"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "nofp_b"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "mixed"), names.end());
}

TEST(Unwind, DeepRecursionEqualsLibgcc) {
  Probe p;
  nofp_recurse(probe, &p, 300);
  expect_same_as_libgcc(p);
  int levels = 0;
  for (int i = p.first; i < p.n; ++i) levels += name_of(p.pcs[i]) == "nofp_recurse";
  EXPECT_EQ(levels, 301);
}

TEST(Unwind, WantedDepthStopsTheWalk) {
  Probe p;
  p.want = 3;
  nofp_recurse(probe, &p, 10);
  ASSERT_EQ(p.status, uw::kWalkOk);
  EXPECT_EQ(p.first, 1);
  EXPECT_EQ(p.n, 4) << "probe's frame + the site + 2 callers";
  for (int i = 1; i < 4; ++i) EXPECT_EQ(p.pcs[i], p.ub[i - 1]);
  EXPECT_TRUE(p.rewalk_same);
}

TEST(Unwind, TooDeepForTheCapacity) {
  uw::Regs regs;
  TM_CAPTURE_REGS(regs);
  uintptr_t pcs[4];
  uw::Rule rules[4];
  int n, first;
  // The site is never met within the allocator's own frames.
  EXPECT_EQ(uw::walk(regs, 12345, 10, pcs, rules, 4, &n, &first), uw::kWalkTooDeep);
  uintptr_t big_pcs[64];
  uw::Rule big_rules[64];
  EXPECT_EQ(uw::walk(regs, 12345, 10, big_pcs, big_rules, 64, &n, &first), uw::kWalkNoSite);
}

namespace {
Probe* g_sig_probe;
void on_signal(int) { nofp_a(probe, g_sig_probe); }
}  // namespace

TEST(Unwind, SignalFrameIsLeftToLibgcc) {
  Probe p;
  g_sig_probe = &p;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ASSERT_EQ(sigaction(SIGUSR1, &sa, nullptr), 0);
  raise(SIGUSR1);
  signal(SIGUSR1, SIG_DFL);
  EXPECT_EQ(p.status, uw::kWalkSlow) << "the sigreturn trampoline's CFI is an expression";
  EXPECT_GT(p.ub.size(), 5u) << "libgcc walks through it";
  EXPECT_EQ(name_of(p.ub[0]), "nofp_b");
}

TEST(Unwind, NoFdeIsSlow) {
  static int data;
  EXPECT_EQ(uw::rule_from_cfi(reinterpret_cast<uintptr_t>(&data) + 1).kind, uw::kSlow);
  EXPECT_EQ(uw::rule_from_cfi(0).kind, uw::kSlow);
}

TEST(Unwind, RuleTableAnswersAsTheCfi) {
  Probe p;
  fp_a(probe, &p);
  ASSERT_EQ(p.status, uw::kWalkOk);
  for (int i = 0; i + 1 < p.n; ++i) {
    uw::Rule a = uw::rule_for(p.pcs[i]), b = uw::rule_from_cfi(p.pcs[i]);
    EXPECT_EQ(std::memcmp(&a, &b, sizeof a), 0) << name_of(p.pcs[i]);
  }
  uint32_t g = uw::generation();
  uw::forget();
  EXPECT_EQ(uw::generation(), g + 1);
  uw::Rule a = uw::rule_for(p.pcs[1]), b = uw::rule_from_cfi(p.pcs[1]);
  EXPECT_EQ(std::memcmp(&a, &b, sizeof a), 0);
}
