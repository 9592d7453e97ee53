// SPDX-License-Identifier: MIT
// Stack rules through the fast stack walk (interpose/unwind.cpp): one allocation site whose
// tier depends only on the frame at depth 3 (policies/stack-walk.yaml: hot_top* -> hot,
// stack_depth 3).  Every allocation's tier is checked, alternating callers so that the
// per-thread stack cache must tell them apart on each call; through frame-pointer and
// frame-pointer-less code, every allocation interface, more callers than the cache holds per
// site, threads, a forked child, a signal handler that allocates while the interrupted
// thread is allocating at a stack site itself, and dlclose.
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#define DECL(c)                                  \
  void* hot_top_##c(size_t, int);               \
  void* cold_top_##c(size_t, int);              \
  void* far_top_##c(size_t, int);               \
  void* far_hot_##c(size_t, int);
DECL(fp)
DECL(nofp)
}

namespace {

int (*tier_of)(const void*);
const char* (*tier_name)(int);
std::atomic<long> g_failures{0};
std::atomic<long> g_checked{0};

bool is(const void* p, const char* want) {
  const char* got = tier_name(tier_of(p));
  g_checked.fetch_add(1, std::memory_order_relaxed);
  if (!got || std::strcmp(got, want) != 0) {
    if (g_failures.fetch_add(1) < 10) std::printf("FAIL: expected tier %s, got %s\n", want, got ? got : "(none)");
    return false;
  }
  return true;
}

void release(void* p, int how) {
  if (how == 2) ::operator delete(p);
  else std::free(p);
}

using Fn = void* (*)(size_t, int);
struct Caller {
  const char* name;
  Fn fn;
  const char* tier;
};
const Caller kCallers[] = {
    {"hot_top_fp", hot_top_fp, "hot"},     {"cold_top_fp", cold_top_fp, "near"},
    {"far_top_fp", far_top_fp, "near"},    {"far_hot_fp", far_hot_fp, "hot"},
    {"hot_top_nofp", hot_top_nofp, "hot"}, {"cold_top_nofp", cold_top_nofp, "near"},
    {"far_top_nofp", far_top_nofp, "near"}, {"far_hot_nofp", far_hot_nofp, "hot"},
};

// Alternates callers of the same sites, every interface, `rounds` times; returns failures.
long alternate(int rounds, const Caller* callers, int ncallers) {
  long before = g_failures.load();
  for (int r = 0; r < rounds; ++r)
    for (int how = 0; how < 4; ++how)
      for (int c = 0; c < ncallers; ++c) {
        void* p = callers[c].fn(24 + r % 200, how);
        if (!is(p, callers[c].tier) && g_failures.load() < 10)
          std::printf("  (%s, interface %d, round %d)\n", callers[c].name, how, r);
        release(p, how);
      }
  return g_failures.load() - before;
}

// ---- signals ----------------------------------------------------------------------------
std::atomic<long> g_sig_count{0};
std::atomic<long> g_sig_bad{0};
std::atomic<bool> g_stop{false};
void on_signal(int) {
  int saved = errno;
  // The hot tier's heap is used by this handler only (the loop it interrupts allocates on
  // `near`), so the interrupted allocation and this one share no free list.
  void* p = hot_top_nofp(64, 0);
  if (tier_of(p) < 0 || std::strcmp(tier_name(tier_of(p)), "hot") != 0) g_sig_bad.fetch_add(1);
  std::free(p);
  g_sig_count.fetch_add(1);
  errno = saved;
}

long signal_test() {
  void* keep = hot_top_nofp(64, 0);  // the hot page never empties (no retirement mid-signal)
  on_signal(0);                       // the handler's stack recorded before signals start
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
    void* p = cold_top_fp(40, 0);  // near, through the same kind of stack site
    if (!is(p, "near")) ++bad;
    std::free(p);
    ++n;
  }
  g_stop = true;
  killer.join();
  signal(SIGUSR1, SIG_IGN);
  std::free(keep);
  std::printf("signals: %ld handled (%ld misplaced), %ld allocations interrupted-or-not (%ld misplaced)\n",
              g_sig_count.load(), g_sig_bad.load(), n, bad);
  return bad + g_sig_bad.load() + (g_sig_count.load() < 200 ? 1 : 0);
}

}  // namespace

int main(int argc, char** argv) {
  tier_of = reinterpret_cast<int (*)(const void*)>(dlsym(RTLD_DEFAULT, "tiermalloc_tier_of"));
  tier_name = reinterpret_cast<const char* (*)(int)>(dlsym(RTLD_DEFAULT, "tiermalloc_tier_name"));
  if (!tier_of || !tier_name || argc < 2) {
    std::puts("stack_walk: run under LD_PRELOAD=libtiermalloc.so with the test library directory as argument");
    return 1;
  }
  std::string dir = argv[1];
  long f;

  // Two callers per site (the cache holds two stacks per site), then eight (it must miss
  // and walk again, never answer from another caller's stack).
  f = alternate(2000, kCallers, 2);
  std::printf("fp hot/cold alternating: %s\n", f ? "FAILED" : "ok");
  f = alternate(2000, kCallers + 4, 2);
  std::printf("nofp hot/cold alternating: %s\n", f ? "FAILED" : "ok");
  f = alternate(500, kCallers, 8);
  std::printf("eight callers (depth 3 reached or not): %s\n", f ? "FAILED" : "ok");

  // Threads: each its own cache, the rule table shared.
  {
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t) ts.emplace_back([t] { alternate(1000, kCallers + (t % 2) * 4, 4); });
    for (auto& t : ts) t.join();
    std::printf("four threads: %s\n", g_failures.load() ? "FAILED" : "ok");
  }

  // A forked child inherits the caches: still exact.
  pid_t pid = fork();
  if (pid == 0) _exit(alternate(200, kCallers, 8) ? 1 : 0);
  int st = 0;
  waitpid(pid, &st, 0);
  bool child_ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
  if (!child_ok) g_failures++;
  std::printf("forked child: %s\n", child_ok ? "ok" : "FAILED");

  f = signal_test();
  if (f) g_failures += f;
  std::printf("signal handler: %s\n", f ? "FAILED" : "ok");

  // dlclose: the second library (other name at depth 3, same code) often reuses the address.
  using Entry = void* (*)(size_t);
  void* h = dlopen((dir + "/libstack_walk_hot.so").c_str(), RTLD_NOW);
  if (!h) { std::printf("dlopen: %s\n", dlerror()); return 1; }
  auto e = reinterpret_cast<Entry>(dlsym(h, "dl_entry"));
  void* old_addr = reinterpret_cast<void*>(e);
  for (int i = 0; i < 3; ++i) { void* p = e(32); is(p, "hot"); std::free(p); }
  dlclose(h);
  h = dlopen((dir + "/libstack_walk_cold.so").c_str(), RTLD_NOW);
  if (!h) { std::printf("dlopen: %s\n", dlerror()); return 1; }
  e = reinterpret_cast<Entry>(dlsym(h, "dl_entry"));
  for (int i = 0; i < 3; ++i) { void* p = e(32); is(p, "near"); std::free(p); }
  std::printf("dlclose then another library %s: %s\n",
              reinterpret_cast<void*>(e) == old_addr ? "at the same address" : "elsewhere",
              g_failures.load() ? "FAILED" : "ok");
  dlclose(h);

  std::printf("%ld allocations checked, %ld misplaced\n", g_checked.load(), g_failures.load());
  std::printf("%s\n", g_failures.load() ? "STACK-WALK-FAILED" : "STACK-WALK-OK");
  return g_failures.load() ? 1 : 0;
}
