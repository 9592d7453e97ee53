// SPDX-License-Identifier: MIT
// bench/churn.cpp -- an allocation-heavy workload, linked against no allocator of ours.
//
// Run it plain (glibc) or under LD_PRELOAD of an allocator; bench/run.py does both.
//
//   churn small   [--ops N] [--window W] [--seed S]
//       One thread.  A sliding window of W live blocks (sizes 8..1024 B, uniform); each
//       operation frees the oldest block and allocates a new one.  Each block is written when
//       allocated (a tag at both ends and one store per cache line) and checked when freed.
//   churn threads T [--ops N] [--window W] [--seed S] [--remote R]
//       T threads, each its own window, N/T operations each.  One free in R (default 16) is
//       handed to the next thread through a lock-free inbox and freed there (cross-thread
//       free).  --remote 0 disables the hand-off.
//   churn mixed   [--ops N] [--window W] [--seed S] [--large L]
//       Like small, but one allocation in L (default 2000) is large: 1..4 MiB, written on
//       every page.  Exercises the large path and size rules that send it elsewhere.
//
//   churn sites   [--ops N] [--window W] [--seed S] [--depth D] [--sites K] [--pad P]
//       Like small, but every allocation is made by one of K (1..4, default 4) leaf
//       functions, tm_bench_leaf0..3, reached through a chain of D (1..16, default 8) frames:
//       the loop calls tm_bench_level<D>, which calls tm_bench_level<D-1>, ... tm_bench_level2
//       calls the leaf (level 1), which calls malloc.  Every function of the chain is extern
//       "C", noinline (noipa: no identical-code folding) and keeps its callee's result live
//       after the call (no tail call), so frame i above the call site is always level i+1:
//       a policy names the sites by function and the frames by stack pattern.  The loop
//       itself runs P (default 24) frames below main (tm_bench_pad), so a stack walk meets a
//       program-sized stack above the chain instead of ending early at main.  Prints
//       "site_allocs <n0> <n1> <n2> <n3>" (allocations per leaf, window fill included) on
//       stderr, against which bench/run.py checks tiermalloc's per-tier counts.
//
//   --peak-rss 1 (any mode): also print "peak_rss_kib <n>" (the process's VmHWM) on stderr.
//       A parent's getrusage(RUSAGE_CHILDREN) counts the RSS the child had before exec (a
//       Python parent's, 16 MiB), which hides small workloads' footprint; VmHWM does not.
//
// Output: one line, "checksum <hex> ops <n>".  The checksum depends only on the seed, the
// mode and the counts, never on the allocator or on thread interleaving, so every allocator
// must print the same line.  A block whose contents changed between malloc and free is an
// error: the program prints what it found and exits 1.
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

// ---- deterministic randomness -------------------------------------------------------------
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
  uint64_t next() {  // splitmix64: cheap and good enough
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
};

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  return x;
}

// ---- blocks: written on allocation, checked on free --------------------------------------
struct Slot {
  void* p;
  uint32_t size;
  uint64_t tag;
};

[[noreturn]] void corrupt(const char* what, uint64_t want, uint64_t got, size_t size) {
  std::fprintf(stderr, "churn: block corrupted (%s): want %016" PRIx64 " got %016" PRIx64 " size %zu\n",
               what, want, got, size);
  std::exit(1);
}

[[noreturn]] void oom(size_t size) {
  std::fprintf(stderr, "churn: malloc(%zu) returned NULL\n", size);
  std::exit(1);
}

// Head tag, one store per cache line (per page for large blocks), tail tag (16 B and up).
inline void fill(void* p, size_t size, uint64_t tag, size_t stride) {
  auto* b = static_cast<unsigned char*>(p);
  std::memcpy(b, &tag, 8);
  for (size_t off = stride; off + 8 < size; off += stride) b[off] = static_cast<unsigned char>(tag >> 8);
  if (size >= 16) {
    uint64_t tail = ~tag;
    std::memcpy(b + size - 8, &tail, 8);
  }
}

// Returns a value derived from the contents, which the checksum accumulates.
inline uint64_t check(const Slot& s) {
  auto* b = static_cast<const unsigned char*>(s.p);
  uint64_t head;
  std::memcpy(&head, b, 8);
  if (head != s.tag) corrupt("head", s.tag, head, s.size);
  if (s.size >= 16) {
    uint64_t tail;
    std::memcpy(&tail, b + s.size - 8, 8);
    if (tail != ~s.tag) corrupt("tail", ~s.tag, tail, s.size);
  }
  return mix(head + s.size);
}

inline size_t small_size(Rng& r) { return 8 + static_cast<size_t>(r.next() % 1017); }  // 8..1024

// ---- cross-thread hand-off: a Treiber stack per thread, drained all at once --------------
struct alignas(64) Inbox {
  std::atomic<void*> head{nullptr};
  void push(void* p) {
    void* h = head.load(std::memory_order_relaxed);
    do {
      std::memcpy(p, &h, sizeof h);
    } while (!head.compare_exchange_weak(h, p, std::memory_order_release, std::memory_order_relaxed));
  }
  size_t drain() {
    void* p = head.exchange(nullptr, std::memory_order_acquire);
    size_t n = 0;
    while (p) {
      void* next;
      std::memcpy(&next, p, sizeof next);
      std::free(p);
      p = next;
      ++n;
    }
    return n;
  }
};

struct Params {
  uint64_t ops = 20'000'000;
  size_t window = 4096;
  uint64_t seed = 1;
  unsigned threads = 1;
  unsigned remote = 16;  // 1 in `remote` frees goes to another thread; 0: none
  unsigned large = 2000; // mixed: 1 in `large` allocations is 1..4 MiB
  bool mixed = false;
  bool peak_rss = false;
  unsigned depth = 8;    // sites: frames from the malloc call to the loop (leaf = 1)
  unsigned nsites = 4;   // sites: distinct leaf functions
  unsigned pad = 24;     // sites: frames between main and the loop
  uint64_t site_allocs[4] = {0, 0, 0, 0};
};

void print_peak_rss() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return;
  char line[256];
  while (std::fgets(line, sizeof line, f)) {
    unsigned long kib;
    if (std::sscanf(line, "VmHWM: %lu kB", &kib) == 1) std::fprintf(stderr, "peak_rss_kib %lu\n", kib);
  }
  std::fclose(f);
}

}  // namespace

// ---- sites: distinct call sites at a known call depth --------------------------------------
// extern "C" so that policies name them plainly; noipa (GCC) also stops identical-code
// folding, which would merge the four leaves into one function (one call site).
#if defined(__clang__)
#define BENCH_FRAME __attribute__((noinline, used))
#else
#define BENCH_FRAME __attribute__((noinline, noipa, used))
#endif

namespace {
// After a call: the result must be in a register, so the call cannot be a tail call (the
// caller's frame stays on the stack, and the callee returns into it).
inline void* keep(void* p) {
  asm volatile("" : "+r"(p));
  return p;
}
}  // namespace

extern "C" {
BENCH_FRAME void* tm_bench_leaf0(size_t n) { return keep(std::malloc(n)); }
BENCH_FRAME void* tm_bench_leaf1(size_t n) { return keep(std::malloc(n)); }
BENCH_FRAME void* tm_bench_leaf2(size_t n) { return keep(std::malloc(n)); }
BENCH_FRAME void* tm_bench_leaf3(size_t n) { return keep(std::malloc(n)); }

BENCH_FRAME void* tm_bench_level2(size_t n, unsigned site) {
  void* p;
  switch (site) {
    case 0: p = tm_bench_leaf0(n); break;
    case 1: p = tm_bench_leaf1(n); break;
    case 2: p = tm_bench_leaf2(n); break;
    default: p = tm_bench_leaf3(n); break;
  }
  return keep(p);
}
#define BENCH_LEVEL(L, B) \
  BENCH_FRAME void* tm_bench_level##L(size_t n, unsigned site) { return keep(tm_bench_level##B(n, site)); }
BENCH_LEVEL(3, 2)
BENCH_LEVEL(4, 3)
BENCH_LEVEL(5, 4)
BENCH_LEVEL(6, 5)
BENCH_LEVEL(7, 6)
BENCH_LEVEL(8, 7)
BENCH_LEVEL(9, 8)
BENCH_LEVEL(10, 9)
BENCH_LEVEL(11, 10)
BENCH_LEVEL(12, 11)
BENCH_LEVEL(13, 12)
BENCH_LEVEL(14, 13)
BENCH_LEVEL(15, 14)
BENCH_LEVEL(16, 15)
#undef BENCH_LEVEL
}  // extern "C"

namespace {

constexpr unsigned kMaxDepth = 16;

// Enters the chain at level `depth`: the malloc call is then `depth` frames below here.
inline void* site_alloc(size_t n, unsigned site, unsigned depth) {
  using Fn = void* (*)(size_t, unsigned);
  static constexpr Fn level[kMaxDepth + 1] = {
      nullptr,          nullptr,          tm_bench_level2,  tm_bench_level3,  tm_bench_level4,
      tm_bench_level5,  tm_bench_level6,  tm_bench_level7,  tm_bench_level8,  tm_bench_level9,
      tm_bench_level10, tm_bench_level11, tm_bench_level12, tm_bench_level13, tm_bench_level14,
      tm_bench_level15, tm_bench_level16};
  if (depth == 1) {
    switch (site) {
      case 0: return tm_bench_leaf0(n);
      case 1: return tm_bench_leaf1(n);
      case 2: return tm_bench_leaf2(n);
      default: return tm_bench_leaf3(n);
    }
  }
  return level[depth](n, site);
}

// One thread's churn.  `inbox`: where remote frees go (nullptr: none); `mine`: our own.
// kSites: allocate through the call chain above (one of P.nsites leaves, chosen at random).
template <bool kSites>
uint64_t churn(Params& P, uint64_t ops, uint64_t seed, Inbox* remote_to, Inbox* mine) {
  Rng rng(seed);
  std::vector<Slot> win(P.window);
  uint64_t sum = 0;
  uint64_t serial = seed << 40;

  auto alloc_into = [&](Slot& s) {
    size_t size;
    size_t stride = 64;
    if (P.mixed && rng.next() % P.large == 0) {
      size = (1u << 20) + static_cast<size_t>(rng.next() % (3u << 20));  // 1..4 MiB
      stride = 4096;
    } else {
      size = small_size(rng);
    }
    void* p;
    if constexpr (kSites) {
      unsigned site = static_cast<unsigned>(rng.next() % P.nsites);
      P.site_allocs[site]++;
      p = site_alloc(size, site, P.depth);
    } else {
      p = std::malloc(size);
    }
    if (!p) oom(size);
    s.p = p;
    s.size = static_cast<uint32_t>(size);
    s.tag = mix(++serial);
    fill(p, size, s.tag, stride);
  };

  for (auto& s : win) alloc_into(s);
  const size_t W = P.window;
  size_t i = 0;
  for (uint64_t op = 0; op < ops; ++op) {
    Slot& s = win[i];
    sum += check(s);
    if (remote_to && P.remote && (mix(s.tag) % P.remote) == 0) {
      remote_to->push(s.p);  // overwrites the head tag, already checked
    } else {
      std::free(s.p);
    }
    alloc_into(s);
    if (++i == W) {
      i = 0;
      if (mine) mine->drain();
    }
  }
  for (auto& s : win) {
    sum += check(s);
    std::free(s.p);
  }
  return sum;
}

}  // namespace

// `sites`: the loop runs n frames deeper than here.  Not a tail call either (keep).
extern "C" BENCH_FRAME void* tm_bench_pad(unsigned n, Params* P, uint64_t* sum) {
  if (n == 0) {
    *sum = churn<true>(*P, P->ops, P->seed, nullptr, nullptr);
    return keep(sum);
  }
  return keep(tm_bench_pad(n - 1, P, sum));
}

namespace {

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: churn small   [--ops N] [--window W] [--seed S]\n"
               "       churn threads T [--ops N] [--window W] [--seed S] [--remote R]\n"
               "       churn mixed   [--ops N] [--window W] [--seed S] [--large L]\n"
               "       churn sites   [--ops N] [--window W] [--seed S] [--depth 1..16] [--sites 1..4] [--pad P]\n"
               "       (any mode: --peak-rss 1 prints the peak RSS on stderr)\n");
  std::exit(2);
}

uint64_t number(const char* s) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 0);
  if (errno || end == s || *end) usage();
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage();
  Params P;
  std::string mode = argv[1];
  int a = 2;
  if (mode == "threads") {
    if (argc < 3) usage();
    P.threads = static_cast<unsigned>(number(argv[2]));
    if (P.threads < 1 || P.threads > 1024) usage();
    a = 3;
  } else if (mode == "mixed") {
    P.mixed = true;
  } else if (mode != "small" && mode != "sites") {
    usage();
  }
  for (; a < argc; ++a) {
    std::string k = argv[a];
    if (a + 1 >= argc) usage();
    uint64_t v = number(argv[++a]);
    if (k == "--ops") P.ops = v;
    else if (k == "--window") P.window = v;
    else if (k == "--seed") P.seed = v;
    else if (k == "--remote") P.remote = static_cast<unsigned>(v);
    else if (k == "--large") P.large = static_cast<unsigned>(v);
    else if (k == "--peak-rss") P.peak_rss = v != 0;
    else if (k == "--depth" && mode == "sites") P.depth = static_cast<unsigned>(v);
    else if (k == "--sites" && mode == "sites") P.nsites = static_cast<unsigned>(v);
    else if (k == "--pad" && mode == "sites") P.pad = static_cast<unsigned>(v);
    else usage();
  }
  if (P.window < 1 || P.large < 1) usage();
  if (P.depth < 1 || P.depth > kMaxDepth || P.nsites < 1 || P.nsites > 4 || P.pad > 10000) usage();

  uint64_t sum = 0;
  if (mode == "sites") {
    tm_bench_pad(P.pad, &P, &sum);
  } else if (mode != "threads") {
    sum = churn<false>(P, P.ops, P.seed, nullptr, nullptr);
  } else {
    const unsigned T = P.threads;
    std::vector<Inbox> inbox(T);
    std::vector<uint64_t> sums(T);
    std::vector<std::thread> th;
    uint64_t per = P.ops / T;
    for (unsigned t = 0; t < T; ++t) {
      th.emplace_back([&, t] {
        Inbox* to = T > 1 ? &inbox[(t + 1) % T] : nullptr;
        sums[t] = churn<false>(P, per, P.seed + t, to, &inbox[t]);
      });
    }
    for (auto& x : th) x.join();
    for (auto& b : inbox) b.drain();  // blocks sent after their receiver's last drain
    for (auto s : sums) sum += s;     // in thread order: independent of interleaving
  }
  std::printf("checksum %016" PRIx64 " ops %" PRIu64 "\n", sum, P.ops);
  if (mode == "sites")
    std::fprintf(stderr, "site_allocs %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", P.site_allocs[0],
                 P.site_allocs[1], P.site_allocs[2], P.site_allocs[3]);
  if (P.peak_rss) print_peak_rss();
  return 0;
}
