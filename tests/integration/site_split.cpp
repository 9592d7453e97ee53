// SPDX-License-Identifier: MIT
// site_split: the hot path's split route (runtime.hpp: a site whose sizes go to two tiers
// takes the tier by a conditional move) must give every size the tier the plan gives.
// policies/site-split.yaml splits malloc's sizes over near, warm, near, cold, near and
// operator new's likewise at other bounds; calloc's second interval is a third tier's.  One
// call instruction reaches the three entry points (through a function pointer), so they
// share one cache slot, armed by whichever went through the slow path last.  In fresh
// threads (fresh heaps: the second tier's heap made first, last or not at all before the
// slot is armed): every size 1..MI_SMALL_SIZE_MAX + 1 (1025) and a few larger, ascending,
// descending and in random order with a random interface, each block's tier checked, its
// bytes written, calloc's checked zero.  Prints "SITE-SPLIT-OK <checks>".
#include <pthread.h>

#include <new>

#include "tm_check.h"

namespace {

tm_tier_of_fn g_tier_of;
int g_near, g_warm, g_cold, g_zeroed;
long g_checks = 0;  // written by one thread at a time (the threads are joined in turn)

const char* tier_name(int t) {
  tm_tier_name_fn fn = tm_tier_name_sym();
  const char* n = fn ? fn(t) : nullptr;
  return n ? n : "?";
}

using Fn2 = void* (*)(size_t, size_t);
enum Kind { kMalloc, kNew, kCalloc, kKinds };
const char* const kKindName[kKinds] = {"malloc", "operator new", "calloc"};

__attribute__((noinline)) void* one_site(Fn2 f, size_t a, size_t b) {
  void* p = f(a, b);  // the one return address every kind reaches its entry point from
  asm volatile("" ::: "memory");
  return p;
}

int tier_of_kind(Kind k, size_t n) {
  switch (k) {
    case kMalloc:
      return n < 24 ? g_near : n < 100 ? g_warm : n < 600 ? g_near : n < 777 ? g_cold : g_near;
    case kNew:
      return n < 24 ? g_near : n < 100 ? g_warm : n < 300 ? g_near : n < 1001 ? g_cold : g_near;
    default:
      return n == 0 ? g_near : n < 24 ? g_zeroed : n < 100 ? g_warm : g_near;
  }
}

void check_one(Kind k, size_t n) {
  void* p;
  if (k == kMalloc) p = one_site(reinterpret_cast<Fn2>(reinterpret_cast<void (*)()>(&malloc)), n, 0);
  else if (k == kNew)
    p = one_site(reinterpret_cast<Fn2>(reinterpret_cast<void (*)()>(static_cast<void* (*)(size_t)>(&::operator new))), n, 0);
  else p = one_site(&calloc, 1, n);
  CHECK(p != nullptr, "%s(%zu) returned NULL", kKindName[k], n);
  int got = g_tier_of(p), want = tier_of_kind(k, n);
  CHECK(got == want, "%s(%zu): block %p in tier %s, expected %s", kKindName[k], n, p, tier_name(got), tier_name(want));
  if (k == kCalloc) {
    const unsigned char* c = static_cast<const unsigned char*>(p);
    for (size_t b = 0; b < n; ++b) CHECK(c[b] == 0, "calloc(1, %zu): byte %zu is %u", n, b, c[b]);
  }
  memset(p, 0xA5, n);
  if (k == kNew) ::operator delete(p);
  else free(p);
  ++g_checks;
}

const size_t kLarger[] = {1026, 2048, 4096, 70000};

struct Case {
  Kind first;        // the thread's first allocation at the site: which heaps exist when it is armed
  size_t first_n;
  Kind second;
  size_t second_n;
};

void* split_thread(void* arg) {
  const Case& c = *static_cast<const Case*>(arg);
  check_one(c.first, c.first_n);
  check_one(c.second, c.second_n);
  for (int round = 0; round < 2; ++round) {  // round 0 arms (slow path), round 1 hits
    for (int ki = 0; ki < kKinds; ++ki) {
      Kind k = static_cast<Kind>(ki);
      for (size_t n = 1; n <= 1025; ++n) check_one(k, n);
      for (size_t n : kLarger) check_one(k, n);
      for (size_t n = 1025; n >= 1; --n) check_one(k, n);
    }
  }
  uint32_t x = 2463534242u;
  for (int i = 0; i < 30000; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    Kind k = (x & 7) < 5 ? kMalloc : (x & 7) < 7 ? kNew : kCalloc;  // mostly malloc: it arms most
    size_t n = i % 97 == 0 ? kLarger[(x >> 8) % 4] : 1 + (x >> 12) % 1025;
    check_one(k, n);
  }
  return nullptr;
}

}  // namespace

int main() {
  g_tier_of = tm_tier_of_sym();
  if (!g_tier_of) {
    puts("site_split: run under LD_PRELOAD=libtiermalloc.so");
    return 1;
  }
  g_near = tm_tier_index("near");
  g_warm = tm_tier_index("warm");
  g_cold = tm_tier_index("cold");
  g_zeroed = tm_tier_index("zeroed");
  CHECK(g_near > 0 && g_warm > 0 && g_cold > 0 && g_zeroed > 0,
        "policy: tiers near, warm, cold, zeroed expected (policies/site-split.yaml)%s", "");
  const Case cases[] = {
      {kMalloc, 10, kMalloc, 50},   // near's heap, then warm's: re-armed with the split route
      {kMalloc, 50, kMalloc, 10},   // warm's heap first
      {kMalloc, 200, kNew, 700},    // near, then cold (new's second tier is not the split's)
      {kCalloc, 5, kMalloc, 60},    // zeroed first: calloc arms its own second tier
      {kNew, 30, kCalloc, 10},      // warm by new, then zeroed by calloc (the last armer)
      {kMalloc, 3000, kMalloc, 80}, // a size above the routes first
  };
  for (const Case& c : cases) {
    pthread_t t;
    CHECK(pthread_create(&t, nullptr, split_thread, const_cast<Case*>(&c)) == 0, "pthread_create%s", "");
    pthread_join(t, nullptr);
  }
  long want = 6 * (2 + 2 * 3 * (2 * 1025 + 4) + 30000);
  CHECK(g_checks == want, "%ld blocks checked, expected %ld", g_checks, want);
  printf("SITE-SPLIT-OK %ld\n", g_checks);
  return 0;
}
