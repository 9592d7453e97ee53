// SPDX-License-Identifier: MIT
// bench/workloads.cpp -- the allocation workloads of bench/suite.py.
//
// Links no allocator of ours: each allocator is chosen at run time with LD_PRELOAD.
//
//   workloads small    [--ops N]   one thread; a window of 4096 live blocks of 8..1024 B, each
//                                  op frees the oldest and allocates a new one (tagged at both
//                                  ends, checked when freed)
//   workloads prodcons [--ops N]   producer threads allocate 16..512 B messages and pass them
//                                  through single-producer rings to consumer threads, which
//                                  check and free them (every free is cross-thread);
//                                  --pairs P (default 1, at most 8)
//   workloads larson   [--ops N]   a server simulation after Larson & Krishnan: T threads
//                                  (--threads, default 2) each own 1000 slots of 16..400 B
//                                  blocks and replace random slots; every --gen ops per thread
//                                  the threads end and new threads take over their slots, so
//                                  blocks are freed by threads that did not allocate them
//   workloads large    [--ops N]   a window of 8 blocks of 64 KiB..32 MiB (log-uniform); each op
//                                  replaces a random one and writes every page of the new block
//   workloads realloc  [--ops N]   64 buffers grown by realloc from 16 B by 1.5x (up to
//                                  4..256 KiB, then freed and restarted); the new tail written,
//                                  the old contents checked on every growth
//   workloads aligned  [--ops N]   posix_memalign and aligned_alloc (alternately) of alignments
//                                  16, 64, 256, 4096, 65536 and 16..8192 B; window of 1024;
//                                  prints "misaligned <n>" (blocks not aligned as asked)
//
// Output: "checksum <hex> ops <n>" on stdout; it depends only on the arguments, so every
// allocator must print the same line.  On stderr: "peak_rss_kib <n>" (VmHWM at exit: a parent's
// getrusage would also count the RSS of the forked copy before exec) and "malloc_from <path>"
// (the object that defines the malloc this process calls: proof that a preload interposes).
// A block whose contents changed, or a misaligned block, prints what it found and exits 1.
#include <dlfcn.h>
#include <malloc.h>
#include <sched.h>

#include <atomic>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

// The allocation sites (bench_*_alloc, bench_realloc) and the workloads' loops (bench_run_*)
// are extern "C", never inlined, cloned or folded: policies name them (bench/policies/suite-*).
#define TM_SITE extern "C" __attribute__((noinline, noipa, used))


struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  uint64_t below(uint64_t n) { return next() % n; }
};

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001B3ull + (v >> 7); }

[[noreturn]] static void corrupt(const char* what, const void* p, uint64_t a, uint64_t b) {
  std::fprintf(stderr, "workloads: %s at %p: found %#" PRIx64 ", expected %#" PRIx64 "\n", what, p, a, b);
  std::exit(1);
}

[[noreturn]] static void oom(size_t n) {
  std::fprintf(stderr, "workloads: allocation of %zu bytes failed\n", n);
  std::exit(1);
}

// A block's tag: its size and a serial at both ends (n >= 8; the ends overlap below 16 B).
static void tag(unsigned char* p, size_t n, uint64_t serial) {
  uint64_t t = serial * 0x2545F4914F6CDD1Dull ^ n;
  std::memcpy(p, &t, 8);
  if (n >= 16) std::memcpy(p + n - 8, &t, 8);
}
static uint64_t check(const unsigned char* p, size_t n, uint64_t serial) {
  uint64_t t = serial * 0x2545F4914F6CDD1Dull ^ n, a, b;
  std::memcpy(&a, p, 8);
  std::memcpy(&b, p + n - 8, 8);
  if (a != t) corrupt("head tag", p, a, t);
  if (n >= 16 && b != t) corrupt("tail tag", p, b, t);
  return t;
}

struct Block {
  unsigned char* p;
  size_t n;
  uint64_t serial;
};

// ---- small -------------------------------------------------------------------------------
TM_SITE unsigned char* bench_small_alloc(size_t n) {
  auto* p = static_cast<unsigned char*>(std::malloc(n));
  if (!p) oom(n);
  return p;
}

TM_SITE uint64_t bench_run_small(uint64_t ops, uint64_t seed) {
  const size_t W = 4096;
  std::vector<Block> w(W);
  Rng r(seed);
  uint64_t h = 0, serial = 0;
  for (auto& b : w) {
    b.n = 8 + r.below(1017);
    b.p = bench_small_alloc(b.n);
    b.serial = serial++;
    tag(b.p, b.n, b.serial);
  }
  for (uint64_t i = 0; i < ops; ++i) {
    Block& b = w[i % W];
    h = mix(h, check(b.p, b.n, b.serial));
    std::free(b.p);
    b.n = 8 + r.below(1017);
    b.p = bench_small_alloc(b.n);
    b.serial = serial++;
    tag(b.p, b.n, b.serial);
  }
  for (auto& b : w) {
    h = mix(h, check(b.p, b.n, b.serial));
    std::free(b.p);
  }
  return h;
}

// ---- prodcons ----------------------------------------------------------------------------
constexpr int kMaxPairs = 8;
struct Ring {
  static constexpr size_t kCap = 4096;
  alignas(64) std::atomic<uint64_t> head{0};  // written by the producer
  alignas(64) std::atomic<uint64_t> tail{0};  // written by the consumer
  alignas(64) unsigned char* slot[kCap];
};

TM_SITE unsigned char* bench_msg_alloc(size_t n) {
  auto* p = static_cast<unsigned char*>(std::malloc(n));
  if (!p) oom(n);
  return p;
}

TM_SITE uint64_t bench_run_prodcons(uint64_t ops, uint64_t seed, int pairs) {
  // Static: a vector of this over-aligned type would be allocated by aligned operator new
  // (aligned_alloc), which is the `aligned` workload's business, not this one's.
  static Ring rings[kMaxPairs];
  std::vector<uint64_t> sums(pairs, 0);
  std::vector<std::thread> th;
  uint64_t per = ops / pairs;
  for (int k = 0; k < pairs; ++k) {
    th.emplace_back([&, k] {  // producer
      Ring& q = rings[k];
      Rng r(seed + k);
      for (uint64_t i = 0; i < per; ++i) {
        size_t n = 16 + r.below(497);
        unsigned char* p = bench_msg_alloc(n);
        std::memcpy(p, &n, sizeof n);
        uint64_t s = i;
        std::memcpy(p + n - 8, &s, 8);
        uint64_t hd = q.head.load(std::memory_order_relaxed);
        while (hd - q.tail.load(std::memory_order_acquire) >= Ring::kCap) sched_yield();
        q.slot[hd % Ring::kCap] = p;
        q.head.store(hd + 1, std::memory_order_release);
      }
    });
    th.emplace_back([&, k] {  // consumer
      Ring& q = rings[k];
      uint64_t h = 0;
      for (uint64_t i = 0; i < per; ++i) {
        uint64_t tl = q.tail.load(std::memory_order_relaxed);
        while (q.head.load(std::memory_order_acquire) == tl) sched_yield();
        unsigned char* p = q.slot[tl % Ring::kCap];
        q.tail.store(tl + 1, std::memory_order_release);
        size_t n;
        uint64_t s;
        std::memcpy(&n, p, sizeof n);
        std::memcpy(&s, p + n - 8, 8);
        if (s != i) corrupt("message serial", p, s, i);
        h = mix(h, n ^ (s << 20));
        std::free(p);
      }
      sums[k] = h;
    });
  }
  for (auto& t : th) t.join();
  uint64_t h = 0;
  for (uint64_t s : sums) h = mix(h, s);
  return h;
}

// ---- larson --------------------------------------------------------------------------------
TM_SITE unsigned char* bench_larson_alloc(size_t n) {
  auto* p = static_cast<unsigned char*>(std::malloc(n));
  if (!p) oom(n);
  return p;
}

TM_SITE uint64_t bench_run_larson(uint64_t ops, uint64_t seed, int threads, uint64_t gen_ops) {
  const size_t kSlots = 1000;
  std::vector<std::vector<Block>> slots(threads, std::vector<Block>(kSlots));
  std::vector<uint64_t> sums(threads, 0);
  uint64_t serial = 0;
  Rng r0(seed);
  for (auto& v : slots)
    for (auto& b : v) {
      b.n = 16 + r0.below(385);
      b.p = bench_larson_alloc(b.n);
      b.serial = serial++;
      tag(b.p, b.n, b.serial);
    }
  uint64_t per = ops / threads, done = 0;
  int gen = 0;
  while (done < per) {
    uint64_t n = per - done < gen_ops ? per - done : gen_ops;
    std::vector<std::thread> th;
    for (int t = 0; t < threads; ++t) {
      // Generation g's thread t takes over the slots thread t-1 filled in the previous one.
      th.emplace_back([&, t, n, gen] {
        auto& v = slots[(t + gen) % threads];
        Rng r(seed * 7919 + gen * 131 + t);
        uint64_t h = sums[t];
        uint64_t base = (uint64_t{1} << 40) * (t + 1) + (uint64_t(gen) << 28);
        for (uint64_t i = 0; i < n; ++i) {
          Block& b = v[r.below(kSlots)];
          h = mix(h, check(b.p, b.n, b.serial));
          std::free(b.p);
          b.n = 16 + r.below(385);
          b.p = bench_larson_alloc(b.n);
          b.serial = base + i;
          tag(b.p, b.n, b.serial);
        }
        sums[t] = h;
      });
    }
    for (auto& x : th) x.join();
    done += n;
    ++gen;
  }
  uint64_t h = 0;
  for (uint64_t s : sums) h = mix(h, s);
  for (auto& v : slots)
    for (auto& b : v) {
      h = mix(h, check(b.p, b.n, b.serial));
      std::free(b.p);
    }
  return h;
}

// ---- large ---------------------------------------------------------------------------------
TM_SITE unsigned char* bench_large_alloc(size_t n) {
  auto* p = static_cast<unsigned char*>(std::malloc(n));
  if (!p) oom(n);
  return p;
}

TM_SITE uint64_t bench_run_large(uint64_t ops, uint64_t seed) {
  const size_t W = 8;
  Rng r(seed);
  auto pick = [&] {  // log-uniform 64 KiB .. 32 MiB
    unsigned sh = 16 + static_cast<unsigned>(r.below(9));  // 2^16 .. 2^24
    size_t lo = size_t{1} << sh;
    return lo + r.below(lo + 1);  // [2^sh, 2^(sh+1)]
  };
  std::vector<Block> w(W);
  uint64_t h = 0, serial = 0;
  auto fill = [&](Block& b) {
    b.n = pick();
    b.p = bench_large_alloc(b.n);
    b.serial = serial++;
    for (size_t off = 0; off < b.n; off += 4096) b.p[off] = static_cast<unsigned char>(off >> 12);
    tag(b.p, b.n, b.serial);
  };
  for (auto& b : w) fill(b);
  for (uint64_t i = 0; i < ops; ++i) {
    Block& b = w[r.below(W)];
    h = mix(h, check(b.p, b.n, b.serial));
    if (b.n > 3 * 4096 && b.p[4096] != 1) corrupt("page byte", b.p + 4096, b.p[4096], 1);
    std::free(b.p);
    fill(b);
  }
  for (auto& b : w) {
    h = mix(h, check(b.p, b.n, b.serial));
    std::free(b.p);
  }
  return h;
}

// ---- realloc -------------------------------------------------------------------------------
TM_SITE unsigned char* bench_realloc(unsigned char* p, size_t n) {
  auto* q = static_cast<unsigned char*>(std::realloc(p, n));
  if (!q) oom(n);
  return q;
}

TM_SITE uint64_t bench_run_realloc(uint64_t ops, uint64_t seed) {
  const size_t W = 64;
  struct Buf {
    unsigned char* p = nullptr;
    size_t n = 0, cap = 0;
    unsigned char v = 0;
  };
  std::vector<Buf> w(W);
  Rng r(seed);
  uint64_t h = 0;
  auto restart = [&](Buf& b) {
    std::free(b.p);
    b.cap = size_t{4096} << r.below(7);  // 4 KiB .. 256 KiB
    b.n = 16;
    b.v = static_cast<unsigned char>(r.next());
    b.p = bench_realloc(nullptr, b.n);
    std::memset(b.p, b.v, b.n);
  };
  for (auto& b : w) restart(b);
  for (uint64_t i = 0; i < ops; ++i) {
    Buf& b = w[r.below(W)];
    if (b.n >= b.cap) {
      h = mix(h, b.n ^ b.v);
      restart(b);
      continue;
    }
    size_t nn = b.n + b.n / 2;
    b.p = bench_realloc(b.p, nn);
    if (b.p[0] != b.v || b.p[b.n / 2] != b.v || b.p[b.n - 1] != b.v) corrupt("realloc contents", b.p, b.p[b.n - 1], b.v);
    std::memset(b.p + b.n, b.v, nn - b.n);
    b.n = nn;
  }
  for (auto& b : w) {
    h = mix(h, b.n ^ b.v);
    std::free(b.p);
  }
  return h;
}

// ---- aligned -------------------------------------------------------------------------------
// Misaligned blocks are counted, not fatal: Debian's mimalloc 2.0.9 returns some (see
// bench/README.md), and the suite still times it.  Printed as "misaligned <n>" on stderr.
static uint64_t g_misaligned = 0;

TM_SITE unsigned char* bench_aligned_alloc(size_t align, size_t n, bool posix) {
  void* p = nullptr;
  if (posix) {
    if (posix_memalign(&p, align, n) != 0) p = nullptr;
  } else {
    p = aligned_alloc(align, (n + align - 1) / align * align);
  }
  if (!p) oom(n);
  if (reinterpret_cast<uintptr_t>(p) % align) {
    if (g_misaligned++ == 0)
      std::fprintf(stderr, "first misaligned block: %s(%zu, %zu) = %p\n", posix ? "posix_memalign" : "aligned_alloc",
                   align, posix ? n : (n + align - 1) / align * align, p);
  }
  return static_cast<unsigned char*>(p);
}

TM_SITE uint64_t bench_run_aligned(uint64_t ops, uint64_t seed) {
  static const size_t kAlign[] = {16, 64, 256, 4096, 65536};
  const size_t W = 1024;
  std::vector<Block> w(W);
  Rng r(seed);
  uint64_t h = 0, serial = 0;
  auto fill = [&](Block& b) {
    size_t a = kAlign[r.below(5)];
    b.n = 16 + r.below(8177);
    b.p = bench_aligned_alloc(a, b.n, serial & 1);
    b.serial = serial++;
    tag(b.p, b.n, b.serial);
  };
  for (auto& b : w) fill(b);
  for (uint64_t i = 0; i < ops; ++i) {
    Block& b = w[r.below(W)];
    h = mix(h, check(b.p, b.n, b.serial));
    std::free(b.p);
    fill(b);
  }
  for (auto& b : w) {
    h = mix(h, check(b.p, b.n, b.serial));
    std::free(b.p);
  }
  return h;
}

static long peak_rss_kib() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long v = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, "VmHWM:", 6) == 0) v = std::strtol(line + 6, nullptr, 10);
  std::fclose(f);
  return v;
}

[[noreturn]] static void usage() {
  std::fprintf(stderr,
               "usage: workloads small|prodcons|larson|large|realloc|aligned [--ops N] [--seed S] "
               "[--pairs P] [--threads T] [--gen N]\n");
  std::exit(2);
}

int main(int argc, char** argv) {
  if (argc < 2) usage();
  std::string mode = argv[1];
  uint64_t ops = 0, seed = 1, gen = 20000;
  int pairs = 1, threads = 2;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) usage();
    uint64_t v = std::strtoull(argv[++i], nullptr, 10);
    if (a == "--ops") ops = v;
    else if (a == "--seed") seed = v;
    else if (a == "--pairs") pairs = static_cast<int>(v);
    else if (a == "--threads") threads = static_cast<int>(v);
    else if (a == "--gen") gen = v;
    else usage();
  }
  if (pairs < 1 || pairs > kMaxPairs || threads < 1 || gen < 1) usage();
  uint64_t h;
  if (mode == "small") h = bench_run_small(ops ? ops : 10'000'000, seed);
  else if (mode == "prodcons") h = bench_run_prodcons(ops ? ops : 4'000'000, seed, pairs);
  else if (mode == "larson") h = bench_run_larson(ops ? ops : 6'000'000, seed, threads, gen);
  else if (mode == "large") h = bench_run_large(ops ? ops : 2'000, seed);
  else if (mode == "realloc") h = bench_run_realloc(ops ? ops : 4'000'000, seed);
  else if (mode == "aligned") h = bench_run_aligned(ops ? ops : 4'000'000, seed);
  else usage();
  std::printf("checksum %016" PRIx64 " ops %" PRIu64 "\n", h, ops);
  Dl_info info{};
  void* m = dlsym(RTLD_DEFAULT, "malloc");
  if (mode == "aligned") std::fprintf(stderr, "misaligned %" PRIu64 "\n", g_misaligned);
  std::fprintf(stderr, "malloc_from %s\npeak_rss_kib %ld\n",
               m && dladdr(m, &info) && info.dli_fname ? info.dli_fname : "?", peak_rss_kib());
  return 0;
}
