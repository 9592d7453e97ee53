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

// One thread's churn.  `inbox`: where remote frees go (nullptr: none); `mine`: our own.
uint64_t churn(const Params& P, uint64_t ops, uint64_t seed, Inbox* remote_to, Inbox* mine) {
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
    void* p = std::malloc(size);
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

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: churn small   [--ops N] [--window W] [--seed S]\n"
               "       churn threads T [--ops N] [--window W] [--seed S] [--remote R]\n"
               "       churn mixed   [--ops N] [--window W] [--seed S] [--large L]\n"
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
  } else if (mode != "small") {
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
    else usage();
  }
  if (P.window < 1 || P.large < 1) usage();

  uint64_t sum = 0;
  if (mode != "threads") {
    sum = churn(P, P.ops, P.seed, nullptr, nullptr);
  } else {
    const unsigned T = P.threads;
    std::vector<Inbox> inbox(T);
    std::vector<uint64_t> sums(T);
    std::vector<std::thread> th;
    uint64_t per = P.ops / T;
    for (unsigned t = 0; t < T; ++t) {
      th.emplace_back([&, t] {
        Inbox* to = T > 1 ? &inbox[(t + 1) % T] : nullptr;
        sums[t] = churn(P, per, P.seed + t, to, &inbox[t]);
      });
    }
    for (auto& x : th) x.join();
    for (auto& b : inbox) b.drain();  // blocks sent after their receiver's last drain
    for (auto s : sums) sum += s;     // in thread order: independent of interleaving
  }
  std::printf("checksum %016" PRIx64 " ops %" PRIu64 "\n", sum, P.ops);
  if (P.peak_rss) print_peak_rss();
  return 0;
}
