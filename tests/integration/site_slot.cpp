// SPDX-License-Identifier: MIT
// site_slot: the hot path's direct route (a call site's cache slot holding the thread's heap
// for the sizes below the plan's first bound) must never hand out memory from a heap that
// is not the right one (policies/site-slot.yaml gives every interface its own tier, sizes
// >= 64 KiB tier "big", malloc's 2..4 KiB tier "mid"):
//   apis     one call instruction reaching malloc, calloc, aligned_alloc, memalign and
//            operator new (through a function pointer), in turn and in runs: each block in
//            its interface's tier, calloc's zeroed, sizes on both sides of the first bound
//            (and for malloc, in and around the 2..4 KiB range carved out of its tier, for
//            operator new the 512..1024 B one: the slot's route for the interval after the
//            first, to a second tier, is the arming interface's only).
//   exit     threads (one after another, so a new thread reuses the previous one's TLS, and
//            four at a time) allocate at one site, then again in a pthread key destructor
//            that runs after the library deleted the thread's heaps: a slot left armed
//            would point at a heap struct the pool has already handed to the new heap.
//   fork     forks while other threads keep creating and deleting heaps (the heap-struct
//            pool's lock): each child allocates at the parent's armed site and in a new
//            thread, within 10 s (a child inheriting the pool lock held would hang).
//   dlclose  DIR: libsite_dl.so's lib_alloc (tier "dl"), closed; libsite_other.so loaded
//            at the same address must get "near" for the same return address.
// Prints "SITE-SLOT-OK <mode> <count>" when every check held.
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <new>
#include <string>

#include "tm_check.h"

namespace {

tm_tier_of_fn g_tier_of;
int g_near, g_zeroed, g_aligned, g_newt, g_big, g_dl, g_mid, g_newmid;
long g_checks = 0;

const char* tier_name(int t) {
  tm_tier_name_fn fn = tm_tier_name_sym();
  const char* n = fn ? fn(t) : nullptr;
  return n ? n : "?";
}

#define CHECK_TIER(p, want, what)                                                              \
  do {                                                                                         \
    int got_ = g_tier_of(p);                                                                   \
    CHECK(got_ == (want), "%s: block %p in tier %s, expected %s", what, p, tier_name(got_),   \
          tier_name(want));                                                                    \
    ++g_checks;                                                                                \
  } while (0)

// ---- apis ------------------------------------------------------------------------------
using Fn2 = void* (*)(size_t, size_t);
// Entry points with two size_t arguments; malloc and operator new ignore the second (the
// x86-64 calling convention lets a one-argument function be called with two).
enum Kind { kMalloc, kCalloc, kAlignedAlloc, kMemalign, kNew, kKinds };
const char* const kKindName[kKinds] = {"malloc", "calloc", "aligned_alloc", "memalign", "operator new"};

__attribute__((noinline)) void* one_site(Fn2 f, size_t a, size_t b) {
  void* p = f(a, b);  // the one return address every kind reaches its entry point from
  asm volatile("" ::: "memory");
  return p;
}

Fn2 fn_of(Kind k) {
  switch (k) {
    case kMalloc: return reinterpret_cast<Fn2>(reinterpret_cast<void (*)()>(&malloc));
    case kCalloc: return &calloc;
    case kAlignedAlloc: return &aligned_alloc;
    case kMemalign: return &memalign;
    case kNew: return reinterpret_cast<Fn2>(reinterpret_cast<void (*)()>(static_cast<void* (*)(size_t)>(&::operator new)));
    default: return nullptr;
  }
}

int tier_of_kind(Kind k, size_t n) {
  if (n >= 64 * 1024) return g_big;
  if (k == kMalloc && n >= 2048 && n <= 4096) return g_mid;
  if (k == kNew && n >= 512 && n <= 1024) return g_newmid;
  switch (k) {
    case kCalloc: return g_zeroed;
    case kAlignedAlloc:
    case kMemalign: return g_aligned;
    case kNew: return g_newt;
    default: return g_near;
  }
}

void* alloc_kind(Kind k, size_t n) {
  switch (k) {
    case kCalloc: return one_site(fn_of(k), 1, n);
    case kAlignedAlloc:
    case kMemalign: return one_site(fn_of(k), 16, n);
    default: return one_site(fn_of(k), n, 0);
  }
}

void free_kind(Kind k, void* p) {
  if (k == kNew) ::operator delete(p);
  else free(p);
}

// A fresh thread (fresh heaps and cache) whose slot is armed last by `last` (a size that
// makes the thread's heap of its carved-out tier, after `first` made the other's): the
// slot's route to a second tier is then last's, and first's carved-out range, whose heap
// exists too, must still reach its own tier.  Every kind and size around the bounds checked.
struct HoleCase {
  Kind first, last;
  size_t first_n, last_n;
};

void* hole_thread(void* arg) {
  const HoleCase& c = *static_cast<const HoleCase*>(arg);
  const size_t sizes[] = {8, 100, 511, 512, 700, 1024, 1025, 2047, 2048, 3000, 4096, 4097, 65535, 65536};
  for (int round = 0; round < 2; ++round) {  // round 0 arms (slow path), round 1 hits
    for (Kind k : {c.first, c.last}) {
      size_t n = k == c.first ? c.first_n : c.last_n;
      void* p = alloc_kind(k, n);
      CHECK(p != nullptr, "%s(%zu) returned NULL", kKindName[k], n);
      CHECK_TIER(p, tier_of_kind(k, n), kKindName[k]);
      free_kind(k, p);
    }
    for (int rep = 0; rep < 3; ++rep)
      for (size_t n : sizes)
        for (int ki = 0; ki < kKinds; ++ki) {
          Kind k = static_cast<Kind>(ki);
          void* p = alloc_kind(k, n);
          CHECK(p != nullptr, "%s(%zu) returned NULL", kKindName[k], n);
          CHECK_TIER(p, tier_of_kind(k, n), kKindName[k]);
          memset(p, 0xCD, n);
          free_kind(k, p);
        }
  }
  return nullptr;
}

int run_apis() {
  const HoleCase cases[] = {{kNew, kMalloc, 700, 3000}, {kMalloc, kNew, 3000, 700}};
  for (const HoleCase& c : cases) {
    pthread_t t;
    CHECK(pthread_create(&t, nullptr, hole_thread, const_cast<HoleCase*>(&c)) == 0, "pthread_create (%s)", "holes");
    pthread_join(t, nullptr);
  }
  // Runs of 1..7 of one kind (so a run arms the slot for it and the next kind must not
  // use it), sizes mostly below the 64 KiB bound, every 13th above it.
  uint32_t x = 12345;
  for (int i = 0; i < 20000;) {
    x = x * 1103515245u + 12345u;
    Kind k = static_cast<Kind>((x >> 8) % kKinds);
    int run = 1 + static_cast<int>((x >> 16) % 7);
    for (int j = 0; j < run; ++j, ++i) {
      size_t n = (i % 13 == 0) ? 64 * 1024 + (i % 5) * 4096 : (i % 3 == 0) ? 8 + (i * 37) % 8000 : 8 + (i * 37) % 1000;
      void* p = alloc_kind(k, n);
      CHECK(p != nullptr, "%s(%zu) returned NULL", kKindName[k], n);
      CHECK_TIER(p, tier_of_kind(k, n), kKindName[k]);
      if (k == kCalloc) {
        const unsigned char* c = static_cast<const unsigned char*>(p);
        for (size_t b = 0; b < n; ++b) CHECK(c[b] == 0, "calloc(1, %zu): byte %zu is %u", n, b, c[b]);
      }
      memset(p, 0xAB, n);  // a calloc reusing it must zero it again
      free_kind(k, p);
    }
  }
  printf("SITE-SLOT-OK apis %ld\n", g_checks);
  return 0;
}

// ---- exit ------------------------------------------------------------------------------
__attribute__((noinline)) void* site_alloc(size_t n) {
  void* p = malloc(n);
  asm volatile("" ::: "memory");
  return p;
}

pthread_key_t g_key;
std::atomic<long> g_thread_checks{0};

void check_site(const char* what) {
  for (int i = 0; i < 64; ++i) {
    void* p = site_alloc(16 + i * 8);
    CHECK(p != nullptr, "%s: malloc returned NULL", what);
    int got = g_tier_of(p);
    CHECK(got == g_near, "%s: block %p in tier %s, expected near", what, p, tier_name(got));
    memset(p, 0x5A, 16 + i * 8);
    free(p);
  }
  g_thread_checks.fetch_add(64, std::memory_order_relaxed);
}

void key_destructor(void*) { check_site("allocation in a key destructor, after the thread's heaps were deleted"); }

void* exit_thread(void*) {
  check_site("thread body");
  pthread_setspecific(g_key, reinterpret_cast<void*>(1));
  return nullptr;
}

int run_exit() {
  pthread_key_create(&g_key, key_destructor);
  for (int i = 0; i < 60; ++i) {  // one at a time: each new thread takes the last one's TLS
    pthread_t t;
    CHECK(pthread_create(&t, nullptr, exit_thread, nullptr) == 0, "pthread_create (round %d)", i);
    pthread_join(t, nullptr);
  }
  for (int r = 0; r < 15; ++r) {
    pthread_t t[4];
    for (auto& th : t) CHECK(pthread_create(&th, nullptr, exit_thread, nullptr) == 0, "pthread_create (group %d)", r);
    for (auto& th : t) pthread_join(th, nullptr);
  }
  long want = (60 + 15 * 4) * 2 * 64;
  CHECK(g_thread_checks.load() == want, "%ld blocks checked, expected %ld", g_thread_checks.load(), want);
  printf("SITE-SLOT-OK exit %ld\n", g_thread_checks.load());
  return 0;
}

// ---- fork ------------------------------------------------------------------------------
std::atomic<bool> g_stop{false};

void* short_thread(void*) {
  void* p = site_alloc(100);  // the thread's heaps: two pool structs taken, two given back at exit
  free(p);
  return nullptr;
}

void* churn(void*) {
  while (!g_stop.load(std::memory_order_relaxed)) {
    pthread_t t;
    if (pthread_create(&t, nullptr, short_thread, nullptr) == 0) pthread_join(t, nullptr);
  }
  return nullptr;
}

void* child_thread(void*) {
  check_site("a child's new thread");
  return nullptr;
}

int run_fork() {
  check_site("parent before fork");  // arms the site's slot in this thread
  pthread_t c[2];
  for (auto& t : c) CHECK(pthread_create(&t, nullptr, churn, nullptr) == 0, "pthread_create (churn)");
  const int kForks = 200;
  for (int i = 0; i < kForks; ++i) {
    pid_t pid = fork();
    CHECK(pid >= 0, "fork %d failed", i);
    if (pid == 0) {
      alarm(10);
      check_site("child, the forking thread's armed site");
      pthread_t t;
      if (pthread_create(&t, nullptr, child_thread, nullptr) != 0) _exit(3);
      pthread_join(t, nullptr);
      _exit(g_thread_checks.load() == 64 * 3 ? 0 : 4);
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid, "waitpid (fork %d)", i);
    CHECK(!(WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM), "fork %d: the child hung (killed after 10 s)", i);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork %d: child status %#x", i, st);
  }
  g_stop.store(true);
  for (auto& t : c) pthread_join(t, nullptr);
  check_site("parent after the forks");
  printf("SITE-SLOT-OK fork %d\n", kForks);
  return 0;
}

// ---- dlclose ---------------------------------------------------------------------------
int run_dlclose(const char* dir) {
  using Fn = void* (*)(size_t);
  void* h = dlopen((std::string(dir) + "/libsite_dl.so").c_str(), RTLD_NOW);
  CHECK(h != nullptr, "dlopen libsite_dl.so: %s", dlerror());
  auto f = reinterpret_cast<Fn>(dlsym(h, "lib_alloc"));
  CHECK(f != nullptr, "dlsym lib_alloc: %s", dlerror());
  for (int i = 0; i < 100; ++i) {
    void* p = f(24 + i);
    CHECK_TIER(p, g_dl, "lib_alloc in libsite_dl.so");
    free(p);
  }
  void* old_addr = reinterpret_cast<void*>(f);
  dlclose(h);
  h = dlopen((std::string(dir) + "/libsite_other.so").c_str(), RTLD_NOW);
  CHECK(h != nullptr, "dlopen libsite_other.so: %s", dlerror());
  f = reinterpret_cast<Fn>(dlsym(h, "lib_alloc"));
  CHECK(f != nullptr, "dlsym lib_alloc: %s", dlerror());
  // Only the same address makes the same return address: otherwise this proves nothing.
  CHECK(reinterpret_cast<void*>(f) == old_addr, "libsite_other.so's lib_alloc at %p, not at %p",
        reinterpret_cast<void*>(f), old_addr);
  for (int i = 0; i < 100; ++i) {
    void* p = f(24 + i);
    CHECK_TIER(p, g_near, "lib_alloc in libsite_other.so (same return address)");
    free(p);
  }
  dlclose(h);
  printf("SITE-SLOT-OK dlclose %ld\n", g_checks);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  g_tier_of = tm_tier_of_sym();
  if (!g_tier_of || argc < 2) {
    puts("site_slot: run under LD_PRELOAD=libtiermalloc.so: site_slot apis|exit|fork|dlclose DIR");
    return 1;
  }
  g_near = tm_tier_index("near");
  g_zeroed = tm_tier_index("zeroed");
  g_aligned = tm_tier_index("aligned");
  g_newt = tm_tier_index("newt");
  g_big = tm_tier_index("big");
  g_dl = tm_tier_index("dl");
  g_mid = tm_tier_index("mid");
  g_newmid = tm_tier_index("newmid");
  CHECK(g_near > 0 && g_zeroed > 0 && g_aligned > 0 && g_newt > 0 && g_big > 0 && g_dl > 0 && g_mid > 0 &&
            g_newmid > 0,
        "policy: tiers near, zeroed, aligned, newt, big, dl, mid, newmid expected (policies/site-slot.yaml)%s", "");
  std::string mode = argv[1];
  if (mode == "apis") return run_apis();
  if (mode == "exit") return run_exit();
  if (mode == "fork") return run_fork();
  if (mode == "dlclose" && argc > 2) return run_dlclose(argv[2]);
  printf("site_slot: unknown mode %s\n", argv[1]);
  return 1;
}
