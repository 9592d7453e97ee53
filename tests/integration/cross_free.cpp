// SPDX-License-Identifier: MIT
// cross_free: free() of blocks another thread allocated (the free path's multi-threaded branch:
// straight to mimalloc's multi-threaded free, or through its generic free for a page holding
// aligned blocks).  policies/cross-free.yaml puts 32..127 B on tier "warm" and 256 KiB and up
// on "cold", the rest on "near".  Each round, an owner thread allocates a batch -- every
// small size class (8..1024 B by 8) four times, medium and large sizes, huge blocks (4 and
// 9 MiB), aligned_alloc and posix_memalign blocks of alignments 32..4096 -- fills every
// byte with the block's own pattern and checks its tier; a second thread checks the bytes
// (all up to 64 KiB) and frees them all (the owner meanwhile frees small blocks of its own:
// the local branch); the owner's next batch must be served from the blocks freed for it:
// over 40 rounds the small blocks take at most five batches' worth of distinct addresses
// (2.7 measured; a free that loses blocks takes new ones every round, 19k; one that puts a
// block on the wrong page hands it out twice or too small: the patterns, usable sizes show).
// Prints "CROSS-FREE-OK <blocks> <distinct small addresses>".
#include <malloc.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#include "tm_check.h"

namespace {

struct Block {
  unsigned char* p;
  size_t n;
  size_t align;  // 0: malloc
  uint8_t pat;
};

tm_tier_of_fn g_tier_of;
int g_near, g_warm, g_cold;

int want_tier(size_t n) { return n >= 256 * 1024 ? g_cold : (n >= 32 && n <= 127) ? g_warm : g_near; }

std::vector<Block> g_batch;          // handed from the owner to the freeing thread
std::atomic<int> g_turn{0};          // 0: owner fills, 1: freer frees, 2: done
long g_blocks = 0;

void fill(Block& b, uint8_t pat) {
  b.pat = pat;
  memset(b.p, pat, b.n);
}

void verify(const Block& b, const char* who) {
  size_t step = b.n <= 65536 ? 1 : 61;  // large blocks: a byte in every 61 and the last
  for (size_t i = 0; i < b.n; i = i + step < b.n || i == b.n - 1 ? i + step : b.n - 1)
    CHECK(b.p[i] == b.pat, "%s: block %p (%zu B, align %zu) byte %zu is %#x, expected %#x (another block overlaps it)",
          who, static_cast<void*>(b.p), b.n, b.align, i, b.p[i], b.pat);
}

std::vector<Block> make_batch(int round, bool all) {
  std::vector<Block> v;
  uint8_t pat = static_cast<uint8_t>(round * 37 + 1);
  auto add = [&](size_t n, size_t align) {
    Block b{};
    b.n = n;
    b.align = align;
    if (align == 0) {
      b.p = static_cast<unsigned char*>(malloc(n));
    } else if (round % 2) {
      b.p = static_cast<unsigned char*>(aligned_alloc(align, n));
    } else {
      void* q = nullptr;
      CHECK(posix_memalign(&q, align, n) == 0, "posix_memalign(%zu, %zu) failed", align, n);
      b.p = static_cast<unsigned char*>(q);
    }
    CHECK(b.p != nullptr, "allocation of %zu B (align %zu) returned NULL", n, align);
    if (align) CHECK(reinterpret_cast<uintptr_t>(b.p) % align == 0, "block %p not aligned to %zu", static_cast<void*>(b.p), align);
    CHECK(malloc_usable_size(b.p) >= n, "block %p: usable size %zu below %zu", static_cast<void*>(b.p),
          malloc_usable_size(b.p), n);
    int got = g_tier_of(b.p);
    CHECK(got == want_tier(n), "block %p of %zu B in tier %d, expected %d", static_cast<void*>(b.p), n, got, want_tier(n));
    fill(b, pat);
    pat = static_cast<uint8_t>(pat * 5 + 3);
    if (pat == 0) pat = 1;
    v.push_back(b);
  };
  for (int rep = 0; rep < 4; ++rep)
    for (size_t n = 8; n <= 1024; n += 8) add(n, 0);
  if (!all) return v;
  for (size_t n : {1100, 3000, 8192, 20000, 65536, 200000, 300000, 1 << 20}) add(n, 0);
  for (size_t n : {size_t{4} << 20, size_t{9} << 20}) add(n, 0);
  for (size_t a : {32, 64, 256, 4096})
    for (size_t n : {24, 100, 1000, 5000}) add(n, a);
  return v;
}

void* freer(void*) {
  for (;;) {
    int t;
    while ((t = g_turn.load(std::memory_order_acquire)) == 0) sched_yield();
    if (t == 2) return nullptr;
    for (const Block& b : g_batch) {
      verify(b, "freeing thread, before free");
      free(b.p);
    }
    g_batch.clear();
    g_turn.store(0, std::memory_order_release);
  }
}

void* owner(void*) {
  pthread_t f;
  CHECK(pthread_create(&f, nullptr, freer, nullptr) == 0, "pthread_create (%s)", "freer");
  std::vector<uintptr_t> small;  // every small block's address, all rounds
  size_t per_round = 0;
  for (int round = 0; round < 40; ++round) {
    std::vector<Block> v = make_batch(round, true);
    // Small blocks of its own, freed here (the local branch) while the batch is freed there.
    std::vector<Block> mine = make_batch(round + 1000, false);
    for (const Block& b : v) {
      if (b.align == 0 && b.n <= 1024) small.push_back(reinterpret_cast<uintptr_t>(b.p));
    }
    per_round = 0;
    for (const Block& b : v) per_round += b.align == 0 && b.n <= 1024;
    g_blocks += static_cast<long>(v.size() + mine.size());
    while (g_turn.load(std::memory_order_acquire) != 0) sched_yield();
    g_batch = std::move(v);
    g_turn.store(1, std::memory_order_release);
    for (const Block& b : mine) {
      verify(b, "owner, its own block before free");
      free(b.p);
    }
    while (g_turn.load(std::memory_order_acquire) != 0) sched_yield();
  }
  g_turn.store(2, std::memory_order_release);
  pthread_join(f, nullptr);
  std::sort(small.begin(), small.end());
  size_t distinct = static_cast<size_t>(std::unique(small.begin(), small.end()) - small.begin());
  CHECK(distinct <= 5 * per_round,
        "%zu distinct addresses for the small blocks of 40 rounds of %zu: blocks freed by the other thread were not reused",
        distinct, per_round);
  printf("CROSS-FREE-OK %ld %zu\n", g_blocks, distinct);
  return nullptr;
}

}  // namespace

int main() {
  g_tier_of = tm_tier_of_sym();
  CHECK(g_tier_of != nullptr, "run under LD_PRELOAD=libtiermalloc.so%s", "");
  g_near = tm_tier_index("near");
  g_warm = tm_tier_index("warm");
  g_cold = tm_tier_index("cold");
  CHECK(g_near > 0 && g_warm > 0 && g_cold > 0, "policy: tiers near, warm, cold expected (policies/cross-free.yaml)%s", "");
  pthread_t o;
  CHECK(pthread_create(&o, nullptr, owner, nullptr) == 0, "pthread_create (%s)", "owner");
  pthread_join(o, nullptr);
  fflush(stdout);
  return 0;
}
