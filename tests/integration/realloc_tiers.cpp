// SPDX-License-Identifier: MIT
// realloc_tiers: one block grown from 1 byte to 64 MiB and shrunk back, in steps (through
// exactly 1 MiB - 1 and 1 MiB), its contents checked at every step.  Under the split
// policy (>= 1 MiB on tier "far", smaller on "near") the block must change tier when it
// crosses 1 MiB, both ways.  Shorter runs through reallocarray and __libc_realloc, and
// from an aligned block.
#include <malloc.h>

#include <vector>

#include "tm_check.h"

namespace {

constexpr size_t kOneMiB = size_t{1} << 20;
constexpr size_t kTop = size_t{64} << 20;
constexpr uint32_t kSeed = 2024;

tm_tier_of_fn g_tier_of;
int g_near = -1, g_far = -1;
int g_moves_up = 0, g_moves_down = 0;

using realloc_fn = void* (*)(void*, size_t);

void* via_reallocarray(void* p, size_t n) { return reallocarray(p, n, 1); }

std::vector<size_t> steps(size_t top) {
  std::vector<size_t> up;
  for (size_t n = 1; n < top; n = n * 3 / 2 + 7) {
    if (n < kOneMiB - 1 && n * 3 / 2 + 7 > kOneMiB - 1) {  // make sure we pass 1 MiB - 1 and 1 MiB exactly
      up.push_back(n);
      up.push_back(kOneMiB - 1);
      up.push_back(kOneMiB);
      n = kOneMiB;
      continue;
    }
    up.push_back(n);
  }
  up.push_back(top);
  return up;
}

void check_tier(void* p, size_t n, const char* how, int* last_tier, bool growing) {
  if (!g_tier_of) return;
  int t = g_tier_of(p);
  CHECK(t >= 0, "%s: block of %zu bytes is not in a tier", how, n);
  if (g_near < 0 || g_far < 0) return;
  int want = n >= kOneMiB ? g_far : g_near;
  CHECK(t == want, "%s: %s to %zu bytes: block in tier %d (%s), expected %d (%s)", how, growing ? "growing" : "shrinking", n, t,
        t == g_far ? "far" : t == g_near ? "near" : "?", want, want == g_far ? "far" : "near");
  if (*last_tier >= 0 && *last_tier != t) (growing ? g_moves_up : g_moves_down)++;
  *last_tier = t;
}

void run(const char* how, realloc_fn fn, void* start, size_t start_n, size_t top) {
  std::vector<size_t> up = steps(top);
  std::vector<size_t> seq(up.begin(), up.end());
  for (size_t i = up.size() - 1; i-- > 0;) seq.push_back(up[i]);  // and back down
  void* p = start;
  size_t cur = start_n;
  int last_tier = -1;
  for (size_t k = 0; k < seq.size(); ++k) {
    size_t n = seq[k];
    if (n == cur) continue;
    bool growing = n > cur;
    void* q = fn(p, n);
    CHECK(q != nullptr, "%s: realloc from %zu to %zu bytes failed", how, cur, n);
    size_t keep = n < cur ? n : cur;
    size_t bad = tm_verify(q, keep, kSeed);
    CHECK(bad == static_cast<size_t>(-1), "%s: realloc from %zu to %zu bytes: byte %zu lost", how, cur, n, bad);
    CHECK(malloc_usable_size(q) >= n, "%s: usable size %zu < %zu", how, malloc_usable_size(q), n);
    // Extend the pattern over the new bytes (the pattern depends only on the offset).
    tm_fill_range(q, keep, n, kSeed);
    check_tier(q, n, how, &last_tier, growing);
    p = q;
    cur = n;
  }
  free(p);
}

}  // namespace

int main() {
  g_tier_of = tm_tier_of_sym();
  g_near = tm_tier_index("near");
  g_far = tm_tier_index("far");
  bool split = getenv("TIERMALLOC_POLICY") && g_tier_of;
  if (split) CHECK(g_near > 0 && g_far > 0 && g_near != g_far, "policy tiers near/far not found (near=%d far=%d)", g_near, g_far);

  run("realloc", realloc, nullptr, 0, kTop);
  run("reallocarray", via_reallocarray, nullptr, 0, size_t{4} << 20);
  realloc_fn libc_realloc = reinterpret_cast<realloc_fn>(dlsym(RTLD_DEFAULT, "__libc_realloc"));
  CHECK(libc_realloc != nullptr, "__libc_realloc not found");
  run("__libc_realloc", libc_realloc, nullptr, 0, size_t{4} << 20);
  void* a = nullptr;
  CHECK(posix_memalign(&a, 4096, 1) == 0, "posix_memalign");
  tm_fill(a, 1, kSeed);
  run("realloc of a 4096-aligned block", realloc, a, 1, size_t{8} << 20);

  if (split) {
    CHECK(g_moves_up >= 4, "block changed tier %d times while growing, expected at least 4 (once per run)", g_moves_up);
    CHECK(g_moves_down >= 4, "block changed tier %d times while shrinking, expected at least 4", g_moves_down);
  }
  printf("realloc_tiers: 1 B .. 64 MiB and back, contents kept; tier changes up %d, down %d: PASS\n", g_moves_up, g_moves_down);
  return 0;
}
