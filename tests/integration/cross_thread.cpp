// SPDX-License-Identifier: MIT
// cross_thread: blocks of 16 B .. 4 MiB (plain and aligned, every allocation interface)
// made by producer threads and checked, sometimes reallocated, and freed by consumer
// threads.  Under the split policy (>= 1 MiB on tier "far") blocks of both tiers cross
// threads; where the tiers exist, each block's tier is checked against its size.
#include <malloc.h>
#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "tm_check.h"

namespace {

enum Api { kMalloc, kCalloc, kRealloc, kPosixMemalign, kAlignedAlloc, kMemalign, kNew, kNewArr, kNewAligned, kNapis };

struct Item {
  void* p;
  size_t n;
  size_t align;
  uint32_t seed;
  Api api;
  int producer;
};

constexpr int kProducers = 3;
constexpr int kConsumers = 3;
constexpr int kCycles = 25;  // per producer: every size x a rotating interface
constexpr size_t kOneMiB = size_t{1} << 20;
const size_t kSizes[] = {16, 24, 48, 100, 1000, 4096, 5000, 65536, 200000, kOneMiB - 1, kOneMiB, kOneMiB + 1,
                         size_t{2} << 20, (size_t{4} << 20) - 16, size_t{4} << 20};

std::mutex g_mu;
std::condition_variable g_cv;
std::deque<Item> g_queue;
int g_producers_left = kProducers;
std::atomic<long> g_consumed{0}, g_far_seen{0}, g_near_seen{0};
tm_tier_of_fn g_tier_of;
int g_near = -1, g_far = -1;

Item produce(size_t n, Api api, uint32_t seed, int producer) {
  Item it{nullptr, n, 16, seed, api, producer};
  switch (api) {
    case kMalloc: it.p = malloc(n); break;
    case kCalloc:
      it.p = calloc(1, n);
      if (it.p)
        for (size_t i = 0; i < n; i += 4093) CHECK(static_cast<unsigned char*>(it.p)[i] == 0, "calloc not zeroed");
      break;
    case kRealloc: it.p = realloc(malloc(n / 3 + 1), n); break;
    case kPosixMemalign:
      it.align = 256;
      if (posix_memalign(&it.p, it.align, n) != 0) it.p = nullptr;
      break;
    case kAlignedAlloc: it.align = 4096; it.p = aligned_alloc(it.align, n); break;
    case kMemalign: it.align = 64; it.p = memalign(it.align, n); break;
    case kNew: it.p = ::operator new(n); break;
    case kNewArr: it.p = ::operator new[](n); break;
    case kNewAligned: it.align = 1024; it.p = ::operator new(n, std::align_val_t{1024}); break;
    case kNapis: break;
  }
  CHECK(it.p != nullptr, "producer %d: allocation of %zu bytes (api %d) failed", producer, n, api);
  CHECK(tm_aligned(it.p, it.align), "producer %d: %p not %zu-aligned", producer, it.p, it.align);
  tm_fill(it.p, n, seed);
  return it;
}

void check_tier(const Item& it, const char* when) {
  if (!g_tier_of) return;
  int t = g_tier_of(it.p);
  CHECK(t >= 0, "%s: block of %zu bytes is not in a tier", when, it.n);
  if (g_near >= 0 && g_far >= 0) {
    int want = it.n >= kOneMiB ? g_far : g_near;
    CHECK(t == want, "%s: block of %zu bytes (api %d) in tier %d, expected %d", when, it.n, it.api, t, want);
    (t == g_far ? g_far_seen : g_near_seen).fetch_add(1);
  }
}

void consume(Item it, uint32_t salt) {
  size_t bad = tm_verify(it.p, it.n, it.seed);
  CHECK(bad == static_cast<size_t>(-1), "consumer: block of %zu bytes from producer %d (api %d) corrupt at byte %zu", it.n,
        it.producer, it.api, bad);
  CHECK(tm_aligned(it.p, it.align), "consumer: block lost its alignment");
  check_tier(it, "consumer");
  bool plain_api = it.api == kMalloc || it.api == kCalloc || it.api == kRealloc;
  if (plain_api && salt % 3 == 0) {
    // Reallocate in the consumer: often across the 1 MiB line, so across tiers.
    size_t nn = it.n >= kOneMiB ? it.n / 8 + 1 : it.n * 16 + kOneMiB / 2;
    void* q = realloc(it.p, nn);
    CHECK(q != nullptr, "consumer: realloc to %zu failed", nn);
    size_t keep = nn < it.n ? nn : it.n;
    bad = tm_verify(q, keep, it.seed);
    CHECK(bad == static_cast<size_t>(-1), "consumer: realloc %zu -> %zu lost byte %zu", it.n, nn, bad);
    it.p = q;
    it.n = nn;
    check_tier(it, "consumer after realloc");
  }
  switch (it.api) {
    case kNew: ::operator delete(it.p); break;
    case kNewArr: ::operator delete[](it.p, it.n); break;
    case kNewAligned: ::operator delete(it.p, it.n, std::align_val_t{1024}); break;
    default: free(it.p); break;
  }
  g_consumed.fetch_add(1);
}

void producer(int id) {
  uint32_t seed = static_cast<uint32_t>(id) * 7919u;
  int k = 0;
  for (int c = 0; c < kCycles; ++c)
    for (size_t n : kSizes) {
      Item it = produce(n, static_cast<Api>((k++ + id) % kNapis), ++seed, id);
      std::unique_lock<std::mutex> l(g_mu);
      g_cv.wait(l, [] { return g_queue.size() < 64; });  // bounded: keeps memory small
      g_queue.push_back(it);
      g_cv.notify_all();
    }
  std::lock_guard<std::mutex> l(g_mu);
  --g_producers_left;
  g_cv.notify_all();
}

void consumer(int id) {
  uint32_t salt = static_cast<uint32_t>(id);
  for (;;) {
    Item it;
    {
      std::unique_lock<std::mutex> l(g_mu);
      g_cv.wait(l, [] { return !g_queue.empty() || g_producers_left == 0; });
      if (g_queue.empty()) return;
      it = g_queue.front();
      g_queue.pop_front();
      g_cv.notify_all();
    }
    consume(it, salt++);
  }
}

}  // namespace

int main() {
  g_tier_of = tm_tier_of_sym();
  g_near = tm_tier_index("near");
  g_far = tm_tier_index("far");
  if (getenv("TIERMALLOC_POLICY") && g_tier_of)
    CHECK(g_near > 0 && g_far > 0 && g_near != g_far, "policy loaded but tiers near/far not found (near=%d far=%d)", g_near,
          g_far);
  std::vector<std::thread> ts;
  for (int i = 0; i < kProducers; ++i) ts.emplace_back(producer, i);
  for (int i = 0; i < kConsumers; ++i) ts.emplace_back(consumer, i);
  for (auto& t : ts) t.join();
  long want = static_cast<long>(kProducers) * kCycles * static_cast<long>(sizeof kSizes / sizeof kSizes[0]);
  CHECK(g_consumed.load() == want, "consumed %ld blocks, produced %ld", g_consumed.load(), want);
  if (g_far >= 0) CHECK(g_far_seen.load() > 0 && g_near_seen.load() > 0, "blocks of both tiers crossed threads");
  printf("cross_thread: %ld blocks crossed threads (%ld on near, %ld on far): PASS\n", g_consumed.load(), g_near_seen.load(),
         g_far_seen.load());
  return 0;
}
