// SPDX-License-Identifier: MIT
// placement MODE: where allocations land, through every heap interface.
//   split   -- the policy in TIERMALLOC_POLICY has tiers "near" and "far" and sends
//              >= 1 MiB to "far": smaller blocks must be on "near", larger on "far".
//   plain   -- no placement (TIERMALLOC_DISABLE=1, or a policy that was rejected): every
//              block is on tier 0, "plain", and no other tier exists.
//   bigalign -- under the same policy: alignments of 32 and 64 MiB (beyond mimalloc's
//              arena alignment, served by the library's own mappings) are placed, and
//              reported, like any other block; realloc and free work on them.
// Needs the library (tiermalloc_tier_of); prints "placement: ... PASS" at the end.
#include <malloc.h>

#include <new>
#include <vector>

#include "tm_check.h"

namespace {

constexpr size_t kOneMiB = size_t{1} << 20;

struct Alloc {
  void* p;
  int how;
};

void* make(int how, size_t n) {
  void* p = nullptr;
  switch (how) {
    case 0: p = malloc(n); break;
    case 1: p = calloc(1, n); break;
    case 2: p = realloc(nullptr, n); break;
    case 3: p = reallocarray(nullptr, n, 1); break;
    case 4: if (posix_memalign(&p, 64, n) != 0) p = nullptr; break;
    case 5: p = aligned_alloc(4096, n); break;
    case 6: p = memalign(128, n); break;
    case 7: p = valloc(n); break;
    case 8: p = ::operator new(n); break;
    case 9: p = ::operator new[](n); break;
    case 10: p = ::operator new(n, std::align_val_t{256}); break;
    case 11: p = ::operator new(n, std::nothrow); break;
  }
  return p;
}
const char* const kHow[] = {"malloc", "calloc", "realloc(NULL)", "reallocarray(NULL)", "posix_memalign", "aligned_alloc",
                            "memalign", "valloc", "new", "new[]", "new(align)", "new(nothrow)"};
constexpr int kNhow = 12;

void release(int how, void* p) {
  switch (how) {
    case 8: case 11: ::operator delete(p); break;
    case 9: ::operator delete[](p); break;
    case 10: ::operator delete(p, std::align_val_t{256}); break;
    default: free(p); break;
  }
}

int big_alignment(tm_tier_of_fn tier_of, tm_tier_name_fn tier_name) {
  int near = tm_tier_index("near"), far = tm_tier_index("far");
  CHECK(near > 0 && far > 0 && near != far, "tiers 'near' and 'far' expected in the policy in force");
  const size_t aligns[] = {size_t{32} << 20, size_t{64} << 20};
  const size_t sizes[] = {100, 3 * kOneMiB};
  int checked = 0;
  for (size_t a : aligns)
    for (size_t n : sizes)
      for (int how = 0; how < 3; ++how) {
        void* p = nullptr;
        const char* name = how == 0 ? "posix_memalign" : how == 1 ? "aligned_alloc" : "new(align)";
        if (how == 0) CHECK(posix_memalign(&p, a, n) == 0, "posix_memalign(%zu MiB, %zu) failed", a >> 20, n);
        if (how == 1) p = aligned_alloc(a, n);
        if (how == 2) p = ::operator new(n, std::align_val_t{a});
        CHECK(p != nullptr && tm_aligned(p, a), "%s(align %zu MiB, %zu) = %p", name, a >> 20, n, p);
        CHECK(malloc_usable_size(p) >= n, "%s(align %zu MiB, %zu): usable size %zu", name, a >> 20, n, malloc_usable_size(p));
        tm_fill(p, n, 5);
        int want = n >= kOneMiB ? far : near;
        int t = tier_of(p);
        CHECK(t == want, "%s(align %zu MiB, %zu bytes) is on tier %d ('%s'), expected %d ('%s')", name, a >> 20, n, t,
              t >= 0 && tier_name(t) ? tier_name(t) : "none: not ours", want, tier_name(want));
        if (how == 2) {
          ::operator delete(p, std::align_val_t{a});
        } else {
          void* q = realloc(p, n * 2);
          CHECK(q != nullptr, "realloc of a %zu MiB-aligned block failed", a >> 20);
          size_t bad = tm_verify(q, n, 5);
          CHECK(bad == static_cast<size_t>(-1), "realloc of a %zu MiB-aligned block lost byte %zu", a >> 20, bad);
          free(q);
        }
        ++checked;
      }
  printf("placement bigalign: %d blocks aligned to 32/64 MiB on the expected tiers: PASS\n", checked);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CHECK(argc == 2, "usage: placement split|plain|bigalign");
  const char* mode = argv[1];
  tm_tier_of_fn tier_of = tm_tier_of_sym();
  tm_tier_name_fn tier_name = tm_tier_name_sym();
  CHECK(tier_of && tier_name, "tiermalloc_tier_of/tier_name not found: run under LD_PRELOAD=libtiermalloc.so");
  CHECK(tier_name(0) && strcmp(tier_name(0), "plain") == 0, "tier 0 is named '%s', expected 'plain'",
        tier_name(0) ? tier_name(0) : "(null)");
  CHECK(tier_name(-1) == nullptr, "tiermalloc_tier_name(-1) should be NULL");

  int want_small, want_large;
  if (strcmp(mode, "bigalign") == 0) return big_alignment(tier_of, tier_name);
  if (strcmp(mode, "split") == 0) {
    want_small = tm_tier_index("near");
    want_large = tm_tier_index("far");
    CHECK(want_small > 0, "no tier named 'near' in the policy in force");
    CHECK(want_large > 0 && want_large != want_small, "no tier named 'far' in the policy in force");
  } else {
    CHECK(strcmp(mode, "plain") == 0, "unknown mode %s", mode);
    CHECK(tier_name(1) == nullptr, "tier 1 exists ('%s') but placement should be off", tier_name(1));
    want_small = want_large = 0;
  }
  CHECK(tier_of(nullptr) == -1, "tier_of(NULL) = %d", tier_of(nullptr));
  int on_stack = 0;
  CHECK(tier_of(&on_stack) == -1, "tier_of(a stack address) = %d", tier_of(&on_stack));

  const size_t sizes[] = {0, 1, 16, 100, 4096, 65536, kOneMiB / 2, kOneMiB - 1, kOneMiB, kOneMiB + 1, 3 * kOneMiB,
                          16 * kOneMiB};
  int checked = 0;
  for (int how = 0; how < kNhow; ++how)
    for (size_t n : sizes) {
      void* p = make(how, n);
      CHECK(p != nullptr, "%s(%zu) failed", kHow[how], n);
      memset(p, 0x3c, n);
      int want = n >= kOneMiB ? want_large : want_small;
      int t = tier_of(p);
      CHECK(t == want, "%s(%zu) is on tier %d ('%s'), expected tier %d ('%s')", kHow[how], n, t,
            tier_name(t) ? tier_name(t) : "?", want, tier_name(want) ? tier_name(want) : "?");
      release(how, p);
      ++checked;
    }
  printf("placement %s: %d allocations on the expected tiers (small: %s, large: %s): PASS\n", mode, checked,
         tier_name(want_small), tier_name(want_large));
  return 0;
}
