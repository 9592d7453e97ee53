// SPDX-License-Identifier: MIT
// tests/stress/stress.cpp -- long-running checks of the allocator under LD_PRELOAD.
//
//   stress MODE [--seconds S] [--threads N] [--seed X] [ARGS]
//
// Every block gets a pattern (tests/integration/tm_check.h: depends on a seed and the offset)
// written over all its bytes, and is verified byte for byte before it is freed, reallocated
// or handed on; a mismatch, a misaligned or short block, or a NULL where none is allowed
// prints "FAIL file:line: ..." and exits 1.  At the end each mode prints one line
//   STRESS mode=M seconds=S iterations=I allocations_checked=A bytes_checked=B [extra]
// and exits 0.  Modes:
//   threads   N threads, every entry point (malloc, calloc, realloc, reallocarray, free,
//             posix_memalign, aligned_alloc, memalign, valloc, pvalloc, new/delete with
//             size/alignment/nothrow, new[]/delete[], anonymous mmap/munmap,
//             malloc_usable_size), sizes 0 .. 40 MiB; a third of the blocks are freed (or
//             reallocated) by another thread, through a shared exchange table.
//   fork      threads allocate while the main thread forks children; each child verifies
//             the parent's blocks, frees some, allocates in a new thread, maybe forks a
//             grandchild, and exits 0; every exit status is checked.
//   dlopen    LIB_A LIB_B: two threads open/close libraries that allocate; blocks made by one
//             library are verified and freed by the other after the first was closed.
//   signals   workers allocate while a thread sends them SIGUSR1 every few microseconds; the
//             handler does async-signal-safe work only (writes and checks a buffer, keeps errno).
//             (A handler that calls malloc is undefined behaviour and is not tested.)
//   spill     TIER...: with tiers whose `limit`s are small, blocks fill the first tier, then
//             spill along the fallback chain in order (tiermalloc_tier_of), contents intact.
//   transient TIER MIN: blocks >= MIN go to the transient TIER until its space runs out, then
//             fall back; all verified; freeing makes the space usable again.
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "tm_check.h"

namespace {

double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  uint64_t below(uint64_t n) { return n ? next() % n : 0; }
};

std::atomic<uint64_t> g_checked{0}, g_bytes{0}, g_iters{0};
double g_seconds = 3;
int g_threads = 4;
uint64_t g_seed = 1;

// How a block was made, hence how it must be freed.
enum Kind : uint8_t {
  kMalloc, kCalloc, kRealloc, kReallocArray, kPosixMemalign, kAlignedAlloc, kMemalign, kValloc,
  kPvalloc, kNew, kNewArray, kNewAligned, kNewNothrow, kNewAlignedNothrow, kMmap, kKinds
};
const char* const kKindNames[kKinds] = {"malloc", "calloc", "realloc", "reallocarray", "posix_memalign",
                                        "aligned_alloc", "memalign", "valloc", "pvalloc", "new", "new[]",
                                        "new(align)", "new(nothrow)", "new(align,nothrow)", "mmap"};
bool heap_kind(Kind k) { return k <= kPvalloc; }

struct Blk {
  void* p = nullptr;
  size_t n = 0;
  size_t align = 0;
  uint32_t seed = 0;
  Kind kind = kMalloc;
};

const long kPage = sysconf(_SC_PAGESIZE);

// Sizes 0 .. 40 MiB, mostly small; `big_ok` allows the > 2 MiB classes.
size_t pick_size(Rng& r, bool big_ok) {
  uint64_t c = r.below(1000);
  if (c < 20) return r.below(9);                        // 0..8, incl. 0
  if (c < 700) return 1 + r.below(512);                 // mimalloc's small classes
  if (c < 900) return 513 + r.below(64 << 10);          // medium
  if (c < 995 || !big_ok) return (64 << 10) + r.below(2 << 20);  // large
  if (c < 999) return (2u << 20) + r.below(14u << 20);  // huge
  return (32u << 20) + r.below(8u << 20);               // > 32 MiB
}

void verify(const Blk& b, const char* what) {
  size_t off = tm_verify(b.p, b.n, b.seed);
  CHECK(off == (size_t)-1, "%s: %s block %p of %zu bytes (align %zu) corrupt at offset %zu", what,
        kKindNames[b.kind], b.p, b.n, b.align, off);
  if (heap_kind(b.kind) && b.p) {
    size_t u = malloc_usable_size(b.p);
    CHECK(u >= b.n, "malloc_usable_size(%p) = %zu < %zu (%s)", b.p, u, b.n, kKindNames[b.kind]);
  }
  g_checked.fetch_add(1, std::memory_order_relaxed);
  g_bytes.fetch_add(b.n, std::memory_order_relaxed);
}

Blk make(Rng& r, Kind k, size_t n, uint32_t seed) {
  Blk b;
  b.n = n;
  b.seed = seed;
  b.kind = k;
  size_t align = size_t{8} << r.below(10);  // 8 .. 4096
  switch (k) {
    case kMalloc: b.p = malloc(n); break;
    case kCalloc: {
      size_t m = 1 + r.below(16), cnt = (n + m - 1) / m;
      b.n = cnt * m;
      b.p = calloc(cnt, m);
      CHECK(b.p || b.n == 0, "calloc(%zu, %zu) = NULL", cnt, m);
      const unsigned char* c = static_cast<unsigned char*>(b.p);
      for (size_t i = 0; i < b.n; ++i) CHECK(c[i] == 0, "calloc(%zu, %zu): byte %zu is %u", cnt, m, i, c[i]);
      break;
    }
    case kRealloc: {  // grow from a small filled block: the prefix must survive
      size_t first = r.below(n + 1);
      void* q = malloc(first);
      CHECK(q || first == 0, "malloc(%zu) = NULL", first);
      tm_fill(q, first, seed);
      b.p = realloc(q, n);
      CHECK(b.p || n == 0, "realloc(%p, %zu) = NULL", q, n);
      if (n == 0 && !b.p) break;
      size_t keep = first < n ? first : n;
      size_t off = tm_verify(b.p, keep, seed);
      CHECK(off == (size_t)-1, "realloc %zu -> %zu lost byte %zu", first, n, off);
      break;
    }
    case kReallocArray: {
      size_t m = 1 + r.below(8), cnt = (n + m - 1) / m;
      b.n = cnt * m;
      b.p = reallocarray(nullptr, cnt, m);
      CHECK(reallocarray(nullptr, SIZE_MAX / 2, 3) == nullptr && errno == ENOMEM, "reallocarray overflow not refused");
      break;
    }
    case kPosixMemalign: {
      b.align = align < sizeof(void*) ? sizeof(void*) : align;
      int rc = posix_memalign(&b.p, b.align, n);
      CHECK(rc == 0, "posix_memalign(%zu, %zu) = %d", b.align, n, rc);
      break;
    }
    case kAlignedAlloc: b.align = align; b.n = (n + align - 1) / align * align; b.p = aligned_alloc(align, b.n); break;
    case kMemalign: b.align = align; b.p = memalign(align, n); break;
    case kValloc: b.align = kPage; b.p = valloc(n); break;
    case kPvalloc: b.align = kPage; b.p = pvalloc(n); break;
    case kNew: b.p = ::operator new(n); break;
    case kNewArray: b.p = ::operator new[](n); break;
    case kNewAligned: b.align = align * 8; b.p = ::operator new(n, std::align_val_t(b.align)); break;
    case kNewNothrow: b.p = ::operator new(n, std::nothrow); break;
    case kNewAlignedNothrow:
      b.align = align;
      b.p = ::operator new[](n, std::align_val_t(align), std::nothrow);
      break;
    case kMmap: {
      b.n = n ? n : 1;
      b.align = kPage;
      b.p = mmap(nullptr, b.n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      CHECK(b.p != MAP_FAILED, "mmap(%zu): %s", b.n, strerror(errno));
      const unsigned char* c = static_cast<unsigned char*>(b.p);
      for (size_t i = 0; i < b.n; i += 997) CHECK(c[i] == 0, "fresh mmap not zero at %zu", i);
      break;
    }
    default: break;
  }
  CHECK(b.p || (b.n == 0 && (k == kMalloc || k == kRealloc || k == kReallocArray || k == kCalloc)),
        "%s(%zu) = NULL", kKindNames[k], n);
  if (b.align) CHECK(tm_aligned(b.p, b.align), "%s(%zu, align %zu) = %p, misaligned", kKindNames[k], n, b.align, b.p);
  else if (b.p) {
    size_t want = b.n >= 16 ? 16 : 8;  // the fundamental alignment, or what fits the size
    CHECK(tm_aligned(b.p, want), "%s(%zu) = %p, not %zu-aligned", kKindNames[k], n, b.p, want);
  }
  tm_fill(b.p, b.n, seed);
  tm_escape(b.p);
  return b;
}

void release(Rng& r, Blk& b) {
  verify(b, "before free");
  switch (b.kind) {
    case kNew:
      if (r.below(2)) ::operator delete(b.p, b.n);
      else ::operator delete(b.p);
      break;
    case kNewArray:
      if (r.below(2)) ::operator delete[](b.p, b.n);
      else ::operator delete[](b.p);
      break;
    case kNewAligned:
      if (r.below(2)) ::operator delete(b.p, b.n, std::align_val_t(b.align));
      else ::operator delete(b.p, std::align_val_t(b.align));
      break;
    case kNewNothrow: ::operator delete(b.p, std::nothrow); break;
    case kNewAlignedNothrow: ::operator delete[](b.p, std::align_val_t(b.align), std::nothrow); break;
    case kMmap: CHECK(munmap(b.p, b.n) == 0, "munmap(%p, %zu): %s", b.p, b.n, strerror(errno)); break;
    default:
      if (b.kind == kMalloc && r.below(8) == 0) {  // realloc(p, 0) frees (glibc)
        CHECK(realloc(b.p, 0) == nullptr, "realloc(p, 0) returned a block");
      } else {
        free(b.p);
      }
  }
  b = Blk{};
}

// A heap block resized in place or moved: the common prefix survives, the rest is refilled.
void resize(Rng& r, Blk& b, size_t n) {
  verify(b, "before realloc");
  if (n == 0) n = 1;
  void* q = realloc(b.p, n);
  CHECK(q, "realloc(%p, %zu) = NULL", b.p, n);
  size_t keep = b.n < n ? b.n : n;
  size_t off = tm_verify(q, keep, b.seed);
  CHECK(off == (size_t)-1, "realloc %zu -> %zu (%s) lost byte %zu", b.n, n, kKindNames[b.kind], off);
  b.p = q;
  b.n = n;
  b.kind = kRealloc;
  b.align = 0;
  b.seed += 0x10001;
  tm_fill(b.p, b.n, b.seed);
}

// Shared exchange: a block put here is verified and freed by whichever thread takes it.
constexpr int kExchange = 256;
std::atomic<Blk*> g_exchange[kExchange];

void drain_exchange(Rng& r) {
  for (auto& e : g_exchange)
    if (Blk* b = e.exchange(nullptr)) {
      release(r, *b);
      delete b;
    }
}

std::atomic<bool> g_stop{false};

// One worker: a table of live blocks, random operations on it; the big classes are freed
// right away so that N threads stay within a few hundred MiB.
void worker(int id, bool big_ok, bool use_mmap) {
  Rng r(g_seed * 1000 + id);
  std::vector<Blk> live(96);
  uint32_t seed = id << 24;
  uint64_t it = 0;
  while (!g_stop.load(std::memory_order_relaxed)) {
    ++it;
    Blk& slot = live[r.below(live.size())];
    uint64_t op = r.below(100);
    if (slot.p || slot.n) {
      if (op < 15 && heap_kind(slot.kind)) resize(r, slot, pick_size(r, false));
      else if (op < 35) {  // hand it to another thread
        Blk* b = new Blk(slot);
        verify(*b, "before hand-off");
        slot = Blk{};
        Blk* old = g_exchange[r.below(kExchange)].exchange(b);
        if (old) {
          release(r, *old);
          delete old;
        }
      } else {
        release(r, slot);
      }
    } else {
      Kind k = static_cast<Kind>(r.below(use_mmap ? kKinds : kMmap));
      size_t n = pick_size(r, big_ok);
      slot = make(r, k, n, ++seed);
      if (n > (2u << 20)) release(r, slot);  // big blocks: checked, then gone
    }
    if ((it & 1023) == 0) g_iters.fetch_add(1024, std::memory_order_relaxed);
  }
  for (auto& b : live)
    if (b.p || b.n) release(r, b);
  drain_exchange(r);
}

void run_workers(int n, double seconds, bool big_ok, bool use_mmap) {
  std::vector<std::thread> ts;
  for (int i = 0; i < n; ++i) ts.emplace_back(worker, i, big_ok, use_mmap);
  struct timespec d = {static_cast<time_t>(seconds), static_cast<long>((seconds - (time_t)seconds) * 1e9)};
  nanosleep(&d, nullptr);
  g_stop = true;
  for (auto& t : ts) t.join();
}

void report(const char* mode, double t0, const std::string& extra = "") {
  printf("STRESS mode=%s seconds=%.1f iterations=%llu allocations_checked=%llu bytes_checked=%llu%s%s\n", mode,
         now() - t0, (unsigned long long)g_iters.load(), (unsigned long long)g_checked.load(),
         (unsigned long long)g_bytes.load(), extra.empty() ? "" : " ", extra.c_str());
  fflush(stdout);
}

// ---- threads -------------------------------------------------------------------------
int mode_threads() {
  double t0 = now();
  run_workers(g_threads, g_seconds, true, true);
  Rng r(g_seed);
  drain_exchange(r);
  report("threads", t0, "threads=" + std::to_string(g_threads));
  return 0;
}

// ---- fork ----------------------------------------------------------------------------
int child_body(std::vector<Blk>& mine, uint64_t seed, int depth) {
  Rng r(seed);
  for (auto& b : mine) verify(b, "in the child, the parent's block");
  for (size_t i = 0; i < mine.size(); i += 2) release(r, mine[i]);
  std::atomic<uint64_t> made{0};
  std::thread t([&] {  // a fresh thread in the child allocates too
    Rng tr(seed + 7);
    std::vector<Blk> v;
    for (int i = 0; i < 300; ++i) v.push_back(make(tr, static_cast<Kind>(tr.below(kKinds)), pick_size(tr, false) % (256 << 10), i));
    for (auto& b : v) release(tr, b);
    made += 300;
  });
  std::vector<Blk> v;
  for (int i = 0; i < 300; ++i) v.push_back(make(r, static_cast<Kind>(r.below(kKinds)), pick_size(r, false) % (256 << 10), 1000 + i));
  t.join();
  if (depth == 0 && r.below(4) == 0) {  // a grandchild
    pid_t g = fork();
    CHECK(g >= 0, "fork in the child: %s", strerror(errno));
    if (g == 0) _exit(child_body(v, seed * 31, 1));
    int st;
    CHECK(waitpid(g, &st, 0) == g, "waitpid: %s", strerror(errno));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "grandchild ended with status 0x%x", st);
  }
  for (auto& b : v)
    if (b.p || b.n) release(r, b);
  for (auto& b : mine)
    if (b.p || b.n) release(r, b);
  return made == 300 ? 0 : 3;
}

int mode_fork() {
  double t0 = now();
  g_stop = false;
  std::vector<std::thread> ts;
  for (int i = 0; i < g_threads; ++i) ts.emplace_back(worker, i, false, true);
  Rng r(g_seed + 99);
  uint64_t children = 0;
  std::vector<Blk> mine;
  while (now() - t0 < g_seconds) {
    for (auto& b : mine)
      if (b.p || b.n) release(r, b);
    mine.clear();
    for (int i = 0; i < 64; ++i) mine.push_back(make(r, static_cast<Kind>(r.below(kKinds)), pick_size(r, false) % (1 << 20), i));
    pid_t kids[4];
    for (auto& k : kids) {
      k = fork();
      CHECK(k >= 0, "fork: %s", strerror(errno));
      if (k == 0) _exit(child_body(mine, r.next(), 0));
    }
    for (pid_t k : kids) {
      int st;
      CHECK(waitpid(k, &st, 0) == k, "waitpid: %s", strerror(errno));
      CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d ended with status 0x%x (exit %d, signal %d)", k, st,
            WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
      ++children;
    }
    for (auto& b : mine) verify(b, "in the parent after fork");
  }
  for (auto& b : mine)
    if (b.p || b.n) release(r, b);
  g_stop = true;
  for (auto& t : ts) t.join();
  drain_exchange(r);
  report("fork", t0, "children=" + std::to_string(children) + " threads=" + std::to_string(g_threads));
  return children > 0 ? 0 : 1;
}

// ---- dlopen --------------------------------------------------------------------------
using lib_alloc_fn = void* (*)(size_t, uint32_t, int);
using lib_free_fn = int (*)(void*, size_t, uint32_t, int);

int mode_dlopen(const char* a, const char* b) {
  double t0 = now();
  std::atomic<uint64_t> cycles{0};
  auto loop = [&](int id) {
    Rng r(g_seed * 7 + id);
    uint32_t seed = id << 20;
    while (now() - t0 < g_seconds) {
      void* ha = dlopen(a, RTLD_NOW | RTLD_LOCAL);
      CHECK(ha, "dlopen %s: %s", a, dlerror());
      auto a_alloc = reinterpret_cast<lib_alloc_fn>(dlsym(ha, "stress_lib_alloc"));
      CHECK(a_alloc, "dlsym stress_lib_alloc in %s", a);
      struct Made { void* p; size_t n; uint32_t seed; int how; };
      std::vector<Made> made;
      for (int i = 0; i < 64; ++i) {
        Made m{nullptr, pick_size(r, false), ++seed, static_cast<int>(r.below(4))};
        m.p = a_alloc(m.n, m.seed, m.how);
        CHECK(m.p, "the library's allocation of %zu bytes failed", m.n);
        made.push_back(m);
      }
      void* hb = dlopen(b, RTLD_NOW | RTLD_LOCAL);
      CHECK(hb, "dlopen %s: %s", b, dlerror());
      auto b_free = reinterpret_cast<lib_free_fn>(dlsym(hb, "stress_lib_free"));
      auto b_alloc = reinterpret_cast<lib_alloc_fn>(dlsym(hb, "stress_lib_alloc"));
      CHECK(b_free && b_alloc, "dlsym in %s", b);
      for (size_t i = 0; i < made.size(); i += 2) {  // B frees half of A's blocks while A is open
        CHECK(b_free(made[i].p, made[i].n, made[i].seed, made[i].how) == 0, "block from %s corrupt", a);
        made[i].p = nullptr;
        g_checked++;
        g_bytes += made[i].n;
      }
      CHECK(dlclose(ha) == 0, "dlclose %s: %s", a, dlerror());
      for (auto& m : made)  // the rest after A is gone
        if (m.p) {
          CHECK(b_free(m.p, m.n, m.seed, m.how) == 0, "block from the closed %s corrupt", a);
          g_checked++;
          g_bytes += m.n;
        }
      // B's blocks outlive B; the program frees them itself.
      std::vector<Made> fromb;
      for (int i = 0; i < 16; ++i) {
        Made m{nullptr, pick_size(r, false), ++seed, static_cast<int>(r.below(2))};  // malloc / calloc-like
        m.p = b_alloc(m.n, m.seed, m.how);
        fromb.push_back(m);
      }
      CHECK(dlclose(hb) == 0, "dlclose %s: %s", b, dlerror());
      for (auto& m : fromb) {
        Blk k;
        k.p = m.p;
        k.n = m.n;
        k.seed = m.seed;
        k.kind = kMalloc;
        release(r, k);
      }
      cycles++;
      g_iters++;
    }
  };
  std::thread t1(loop, 1), t2(loop, 2);
  t1.join();
  t2.join();
  report("dlopen", t0, "cycles=" + std::to_string(cycles.load()));
  return cycles > 0 ? 0 : 1;
}

// ---- signals -------------------------------------------------------------------------
std::atomic<uint64_t> g_signals{0}, g_usr1{0};
thread_local unsigned char t_sigbuf[256];

void on_signal(int sig) {
  int saved = errno;
  // Async-signal-safe work: fill a buffer with a pattern and check it, count.
  unsigned char v = static_cast<unsigned char>(g_signals.load(std::memory_order_relaxed));
  for (unsigned i = 0; i < sizeof t_sigbuf; ++i) t_sigbuf[i] = static_cast<unsigned char>(v + i);
  for (unsigned i = 0; i < sizeof t_sigbuf; ++i)
    if (t_sigbuf[i] != static_cast<unsigned char>(v + i)) {
      static const char msg[] = "FAIL: signal handler buffer corrupt\n";
      ssize_t w = write(2, msg, sizeof msg - 1);
      (void)w;
      _exit(1);
    }
  g_signals.fetch_add(1, std::memory_order_relaxed);
  if (sig == SIGUSR1) g_usr1.fetch_add(1, std::memory_order_release);
  errno = saved;
}

int mode_signals() {
  double t0 = now();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);  // the two signals do not interrupt each other's handler (one buffer)
  sigaddset(&sa.sa_mask, SIGUSR1);
  sigaddset(&sa.sa_mask, SIGPROF);
  sa.sa_flags = SA_RESTART;
  CHECK(sigaction(SIGUSR1, &sa, nullptr) == 0, "sigaction: %s", strerror(errno));
  CHECK(sigaction(SIGPROF, &sa, nullptr) == 0, "sigaction: %s", strerror(errno));
  g_stop = false;
  std::vector<pthread_t> ids(g_threads);
  std::vector<std::thread> ts;
  std::atomic<int> started{0};
  for (int i = 0; i < g_threads; ++i)
    ts.emplace_back([&, i] {
      ids[i] = pthread_self();
      started++;
      worker(i, false, true);
    });
  while (started < g_threads) sched_yield();
  // A process-wide profiling timer too: its signal lands on whichever thread runs.
  struct itimerval tv = {{0, 500}, {0, 500}};
  CHECK(setitimer(ITIMER_PROF, &tv, nullptr) == 0, "setitimer: %s", strerror(errno));
  Rng r(g_seed);
  uint64_t sent = 0;
  struct timespec d = {0, 20000};
  // One SIGUSR1 at a time (a second one pending at the same thread would merge with the
  // first): each must be handled, within a second, before the next is sent.
  while (now() - t0 < g_seconds) {
    uint64_t before = g_usr1.load(std::memory_order_acquire);
    CHECK(pthread_kill(ids[r.below(g_threads)], SIGUSR1) == 0, "pthread_kill");
    ++sent;
    double ts = now();
    while (g_usr1.load(std::memory_order_acquire) == before) {
      CHECK(now() - ts < 1.0, "SIGUSR1 number %llu not handled within a second", (unsigned long long)sent);
      sched_yield();
    }
    if (sent % 4 == 0) nanosleep(&d, nullptr);
  }
  struct itimerval off = {};
  setitimer(ITIMER_PROF, &off, nullptr);
  g_stop = true;
  for (auto& t : ts) t.join();
  drain_exchange(r);
  CHECK(g_usr1 == sent, "%llu SIGUSR1 handled, %llu sent", (unsigned long long)g_usr1.load(), (unsigned long long)sent);
  report("signals", t0, "signals_handled=" + std::to_string(g_signals.load()) + " sigusr1_sent=" + std::to_string(sent));
  return 0;
}

// ---- spill ---------------------------------------------------------------------------
// Blocks of 1 MiB (a size every policy here sends to the first tier) until the chain's last
// tier takes them; the tiers must fill in the order given, each up to its limit.
int mode_spill(int argc, char** argv) {
  double t0 = now();
  tm_tier_of_fn tier_of = tm_tier_of_sym();
  CHECK(tier_of, "%s", "spill needs libtiermalloc.so");
  std::vector<int> chain;
  for (int i = 0; i < argc; ++i) {
    int t = tm_tier_index(argv[i]);
    CHECK(t >= 0, "no tier '%s' in the policy", argv[i]);
    chain.push_back(t);
  }
  CHECK(!chain.empty(), "%s", "spill TIER...");
  Rng r(g_seed);
  const size_t n = 1 << 20;
  uint64_t rounds = 0;
  std::vector<uint64_t> per_tier(64);
  while (rounds == 0 || now() - t0 < g_seconds) {
    std::vector<Blk> v;
    size_t pos = 0;  // index in chain: tiers may only move forward
    std::vector<size_t> count(chain.size());
    for (int i = 0; i < 160; ++i) {  // 160 MiB: more than first + second hold
      // One shape (malloc of exactly 1 MiB): a block of another shape may still fit in the
      // space an earlier tier has left, so only equal requests must fill the chain in order.
      Blk b = make(r, kMalloc, n, i + rounds * 1000);
      int t = tier_of(b.p);
      while (pos < chain.size() && chain[pos] != t) ++pos;
      CHECK(pos < chain.size(), "block %d went to tier %d, not along the chain in order", i, t);
      ++count[pos];
      per_tier[t]++;
      v.push_back(b);
    }
    CHECK(count.back() > 0, "%s", "the last tier of the chain got nothing: limits not reached?");
    // Other interfaces, with the chain full: they land on some tier of it, contents intact.
    for (int i = 0; i < 30; ++i) {
      Blk b = make(r, i % 3 == 0 ? kCalloc : i % 3 == 1 ? kNew : kPosixMemalign, n, 500 + i);
      int t = tier_of(b.p);
      bool on_chain = false;
      for (int c : chain) on_chain = on_chain || c == t;
      CHECK(on_chain, "a %s block of 1 MiB went to tier %d, off the chain", kKindNames[b.kind], t);
      v.push_back(b);
    }
    for (size_t k = 0; k + 1 < chain.size(); ++k) CHECK(count[k] > 0, "tier %s got nothing", argv[k]);
    for (auto& b : v) verify(b, "after spill");
    // Free the first tier's blocks: new blocks go there again.
    for (auto& b : v)
      if (tier_of(b.p) == chain[0]) release(r, b);
    Blk again = make(r, kMalloc, n, 7);
    CHECK(tier_of(again.p) == chain[0], "after frees, a new block went to tier %d, not %s", tier_of(again.p), argv[0]);
    release(r, again);
    for (auto& b : v)
      if (b.p) release(r, b);
    ++rounds;
    g_iters += 190;
  }
  std::string extra = "rounds=" + std::to_string(rounds);
  for (size_t k = 0; k < chain.size(); ++k) extra += " " + std::string(argv[k]) + "=" + std::to_string(per_tier[chain[k]]);
  report("spill", t0, extra);
  return 0;
}

// ---- transient -----------------------------------------------------------------------
// Threads allocate blocks >= MIN (the policy's transient rule) more than the tier's space
// holds: some land on TIER, the rest fall back; every one verified.
int mode_transient(const char* tier, size_t min) {
  double t0 = now();
  tm_tier_of_fn tier_of = tm_tier_of_sym();
  CHECK(tier_of, "%s", "transient needs libtiermalloc.so");
  int tt = tm_tier_index(tier);
  CHECK(tt >= 0, "no tier '%s'", tier);
  std::atomic<uint64_t> on_tier{0}, elsewhere{0};
  auto body = [&](int id) {
    Rng r(g_seed * 13 + id);
    while (now() - t0 < g_seconds) {
      std::vector<Blk> v;
      for (int i = 0; i < 12; ++i) {
        size_t n = min + r.below(min);
        Kind k = i % 4 == 0 ? kCalloc : i % 4 == 1 ? kRealloc : i % 4 == 2 ? kNew : kMalloc;
        v.push_back(make(r, k, n, id * 1000 + i));
        if (tier_of(v.back().p) == tt) on_tier++;
        else elsewhere++;
      }
      for (auto& b : v) verify(b, "transient, before free");
      for (size_t i = 0; i < v.size(); ++i)  // resize some across the size boundary and back
        if (i % 3 == 0 && heap_kind(v[i].kind)) resize(r, v[i], i % 2 ? min / 4 : 2 * min);
      for (auto& b : v) release(r, b);
      g_iters++;
    }
  };
  std::vector<std::thread> ts;
  for (int i = 0; i < g_threads; ++i) ts.emplace_back(body, i);
  for (auto& t : ts) t.join();
  CHECK(on_tier > 0, "no block on the transient tier %s", tier);
  CHECK(elsewhere > 0, "no block fell back: the transient space never filled up");
  // Everything freed: the space is usable again.
  Rng r(1);
  Blk b = make(r, kMalloc, min, 5);
  CHECK(tier_of(b.p) == tt, "after every block was freed, a new one went to tier %d, not %s", tier_of(b.p), tier);
  release(r, b);
  report("transient", t0, "on_tier=" + std::to_string(on_tier.load()) + " fell_back=" + std::to_string(elsewhere.load()));
  return 0;
}

size_t parse_mib(const char* s) { return static_cast<size_t>(strtoull(s, nullptr, 10)) << 20; }

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODE [--seconds S] [--threads N] [--seed X] [ARGS]\n", argv[0]);
    return 2;
  }
  std::string mode = argv[1];
  std::vector<char*> rest;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) g_seconds = atof(argv[++i]);
    else if (a == "--threads" && i + 1 < argc) g_threads = atoi(argv[++i]);
    else if (a == "--seed" && i + 1 < argc) g_seed = strtoull(argv[++i], nullptr, 10);
    else rest.push_back(argv[i]);
  }
  if (mode == "threads") return mode_threads();
  if (mode == "fork") return mode_fork();
  if (mode == "dlopen" && rest.size() == 2) return mode_dlopen(rest[0], rest[1]);
  if (mode == "signals") return mode_signals();
  if (mode == "spill") return mode_spill(static_cast<int>(rest.size()), rest.data());
  if (mode == "transient" && rest.size() == 2) return mode_transient(rest[0], parse_mib(rest[1]));
  fprintf(stderr, "stress: unknown mode or arguments: %s\n", mode.c_str());
  return 2;
}
