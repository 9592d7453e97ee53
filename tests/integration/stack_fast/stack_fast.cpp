// SPDX-License-Identifier: MIT
// Stack rules met within one or two frames (policies/stack-fast.yaml: one_top* -> hot for
// malloc, calloc and aligned_alloc below 512 B, stack_depth 3): the stack path's hit then reads the site's fast entry
// (its cache slot: runtime.hpp SiteSlot::st_*, sites.cpp fill_fast) -- one caller's return
// address, and the heap of one interface's size interval.  Every allocation's tier is checked while the caller, the
// size (either side of 512 B) and the interface (malloc or new from the same call
// instruction; calloc, aligned_alloc) alternate, so that an entry answering for a caller, size or interface it was
// not made for shows; with and without frame pointers, in threads, and with a signal handler
// allocating at the same site while the interrupted thread is inside the stack path; and
// operator new failing there (new-handler, bad_alloc, nothrow NULL).  With `shadow`, the same
// under a policy whose later, deeper stack rule is shadowed for one_top* stacks.
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>
#include <vector>

extern "C" {
#define DECL(c)                            \
  void* one_top_##c(size_t, int);          \
  void* cold_##c(size_t, int);             \
  void* one_top_self_##c(size_t, int);     \
  void* one_top_vla_##c(size_t, int);      \
  void* cold_vla_##c(size_t, int);
DECL(fp)
DECL(nofp)
}

namespace {

int (*tier_of)(const void*);
const char* (*tier_name)(int);
std::atomic<long> g_failures{0};
// The tier of the callers that are not one_top*: near, or cold under stack-fast-shadow.yaml.
const char* g_other_tier = "near";
std::atomic<long> g_checked{0};

const char* const kHow[] = {"malloc", "new", "calloc", "aligned_alloc"};

bool is(const void* p, const char* want, const char* who, size_t n, int how) {
  const char* got = tier_name(tier_of(p));
  g_checked.fetch_add(1, std::memory_order_relaxed);
  if (!got || std::strcmp(got, want) != 0) {
    if (g_failures.fetch_add(1) < 10)
      std::printf("FAIL: %s(%zu, %s): expected tier %s, got %s\n", who, n, kHow[how], want, got ? got : "(none)");
    return false;
  }
  return true;
}

// What the allocation must look like besides its tier: calloc's zeroes, aligned_alloc's 64.
bool shape(const void* p, const char* who, size_t n, int how) {
  bool ok = p != nullptr;
  if (ok && how == 3) ok = (reinterpret_cast<uintptr_t>(p) & 63) == 0;
  if (ok && how == 2)
    for (size_t i = 0; i < n; ++i) ok = ok && static_cast<const unsigned char*>(p)[i] == 0;
  if (!ok && g_failures.fetch_add(1) < 10) std::printf("FAIL: %s(%zu, %s): block %p not as asked\n", who, n, kHow[how], p);
  return ok;
}

using Fn = void* (*)(size_t, int);
struct Caller {
  const char* name;
  Fn fn;
  bool top;  // one_top*: hot below 512 B, but not for new
};
const Caller kCallers[] = {
    {"one_top_fp", one_top_fp, true},         {"cold_fp", cold_fp, false},
    {"one_top_self_fp", one_top_self_fp, true}, {"one_top_vla_fp", one_top_vla_fp, true},
    {"cold_vla_fp", cold_vla_fp, false},
    {"one_top_nofp", one_top_nofp, true},     {"cold_nofp", cold_nofp, false},
    {"one_top_self_nofp", one_top_self_nofp, true}, {"one_top_vla_nofp", one_top_vla_nofp, true},
    {"cold_vla_nofp", cold_vla_nofp, false},
};
constexpr int kPerBuild = 5;

// Each caller, `rounds` times, in an order that changes the size, the interface and the
// caller from one allocation to the next at the same site.
long alternate(int rounds, const Caller* callers, int ncallers) {
  long before = g_failures.load();
  const size_t sizes[] = {24, 511, 512, 4000, 100};
  for (int r = 0; r < rounds; ++r)
    for (size_t n : sizes)
      for (int how = 0; how < 4; ++how)
        for (int c = 0; c < ncallers; ++c) {
          const Caller& k = callers[(c + r) % ncallers];
          size_t sz = n + (r % 3 == 0 && n < 511 ? r % 7 : 0);
          void* p = k.fn(sz, how);
          size_t eff = how == 3 ? (sz + 63) & ~size_t{63} : sz;  // the size the rule sees
          const char* want = !k.top ? g_other_tier : how != 1 && eff < 512 ? "hot" : "near";
          if (shape(p, k.name, sz, how)) is(p, want, k.name, sz, how);
          if (how == 1) ::operator delete(p);
          else std::free(p);
          if (how == 2 && r == 0) {  // the next calloc of this size reuses a dirtied block
            void* q = std::malloc(sz);
            std::memset(q, 0xa5, sz);
            std::free(q);
          }
        }
  return g_failures.load() - before;
}

std::atomic<long> g_sig_count{0};
std::atomic<long> g_sig_bad{0};
std::atomic<bool> g_stop{false};
void on_signal(int) {
  int saved = errno;
  void* p = one_top_nofp(64, 0);  // the same site and stack as the loop's, another size: hot
  if (tier_of(p) < 0 || std::strcmp(tier_name(tier_of(p)), "hot") != 0) g_sig_bad.fetch_add(1);
  std::free(p);
  g_sig_count.fetch_add(1);
  errno = saved;
}

long signal_test() {
  void* keep = one_top_nofp(64, 0);  // the hot page never empties (no retirement mid-signal)
  on_signal(0);
  g_sig_count = 0;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, nullptr);
  pthread_t self = pthread_self();
  std::thread killer([self] {
    while (!g_stop.load()) {
      pthread_kill(self, SIGUSR1);
      for (int i = 0; i < 2000; ++i) asm volatile("");
    }
  });
  long bad = 0, n = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (g_sig_count.load() < 5000 && (n & 1023 || std::chrono::steady_clock::now() < until)) {
    void* p = one_top_nofp(1000, 0);  // near: the same fast entry's site, the other interval
    if (!is(p, "near", "one_top_nofp", 1000, 0)) ++bad;
    std::free(p);
    ++n;
  }
  g_stop = true;
  killer.join();
  signal(SIGUSR1, SIG_IGN);
  std::free(keep);
  std::printf("signals: %ld handled (%ld misplaced), %ld allocations (%ld misplaced)\n", g_sig_count.load(),
              g_sig_bad.load(), n, bad);
  return bad + g_sig_bad.load() + (g_sig_count.load() < 200 ? 1 : 0);
}

// operator new at a stack site: its NULL handling is the stack path's, which it reaches by a
// tail call (runtime.hpp new_result): the program's new-handler is called, then bad_alloc is
// thrown through our frames; nothrow new returns NULL.  First from a fresh slot (a miss),
// then from the stack site's slot; then ordinary sizes from the same stacks are placed as the
// rule says (new: near).
int g_handler_calls = 0;
void handler_once() {
  ++g_handler_calls;
  std::set_new_handler(nullptr);
}
long new_failure_test() {
  long bad = 0;
  const size_t huge = size_t{1} << 62;
  for (const Caller* c : {&kCallers[0], &kCallers[kPerBuild]})
    for (int round = 0; round < 3; ++round) {
      g_handler_calls = 0;
      std::set_new_handler(handler_once);
      bool thrown = false;
      try {
        c->fn(huge, 1);
      } catch (const std::bad_alloc&) {
        thrown = true;
      }
      std::set_new_handler(nullptr);
      if (!thrown || g_handler_calls != 1) {
        std::printf("FAIL: %s(2^62, new) round %d: %s, new-handler called %d times (expected bad_alloc, once)\n",
                    c->name, round, thrown ? "bad_alloc" : "no exception", g_handler_calls);
        ++bad;
      }
      if (void* p = c->fn(huge, 4)) {
        std::printf("FAIL: %s(2^62, nothrow new) round %d: %p, expected NULL\n", c->name, round, p);
        ++bad;
      }
      for (int how : {1, 4}) {
        void* q = c->fn(100, how);
        if (!q || !is(q, "near", c->name, 100, 1)) ++bad;
        ::operator delete(q);
      }
    }
  return bad;
}

}  // namespace

int main(int argc, char** argv) {
  // shadow: policies/stack-fast-shadow.yaml, where a later rule looking deeper (cold) is
  // shadowed for one_top* stacks by an earlier rule for every size, so that those are still
  // decided in two frames (sites.cpp shadowed_by), and decides the other callers.
  if (argc > 1 && std::strcmp(argv[1], "shadow") == 0) g_other_tier = "cold";
  tier_of = reinterpret_cast<int (*)(const void*)>(dlsym(RTLD_DEFAULT, "tiermalloc_tier_of"));
  tier_name = reinterpret_cast<const char* (*)(int)>(dlsym(RTLD_DEFAULT, "tiermalloc_tier_name"));
  if (!tier_of || !tier_name) {
    std::puts("stack_fast: run under LD_PRELOAD=libtiermalloc.so");
    return 1;
  }
  long f = alternate(400, kCallers, kPerBuild);
  std::printf("fp callers, sizes, interfaces alternating: %s\n", f ? "FAILED" : "ok");
  f = alternate(400, kCallers + kPerBuild, kPerBuild);
  std::printf("nofp: %s\n", f ? "FAILED" : "ok");
  f = alternate(200, kCallers, 2 * kPerBuild);
  std::printf("both: %s\n", f ? "FAILED" : "ok");
  {
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t) ts.emplace_back([t] { alternate(200, kCallers + (t % 2) * kPerBuild, kPerBuild); });
    for (auto& t : ts) t.join();
    std::printf("four threads: %s\n", g_failures.load() ? "FAILED" : "ok");
  }
  f = new_failure_test();
  if (f) g_failures += f;
  std::printf("operator new failing at a stack site: %s\n", f ? "FAILED" : "ok");
  f = signal_test();
  if (f) g_failures += f;
  std::printf("signal handler: %s\n", f ? "FAILED" : "ok");
  std::printf("%ld allocations checked, %ld misplaced\n", g_checked.load(), g_failures.load());
  bool ok = g_failures.load() == 0 && g_checked.load() >= 50000;
  std::printf("%s\n", ok ? "STACK-FAST-OK" : "STACK-FAST-FAILED");
  return ok ? 0 : 1;
}
