// SPDX-License-Identifier: MIT
// tests/integration/alignment.cpp -- every aligned interface, alignments 8 B .. 64 KiB, sizes
// 0 .. 4 KiB and a few large ones, 4 rounds (so that blocks at every position of a page are
// seen): each block aligned as asked and fully writable (pattern written and checked).
// Regressions: aligned_alloc(256..1024, 256..1024) misaligned through mimalloc 2.0.9's fast
// path (pages of small blocks start 384 bytes in); posix_memalign(16, n < 8) and
// new(n < 8, align_val_t(16)) 8-aligned (mimalloc's 8-byte blocks).
#include <malloc.h>

#include <new>
#include <vector>

#include "tm_check.h"

int main() {
  std::vector<std::pair<void*, int>> keep;  // held, so the next block comes from elsewhere
  unsigned long checked = 0;
  for (int round = 0; round < 4; ++round)
    for (size_t a = 8; a <= 65536; a *= 2)
      for (size_t n = 0; n <= 4096 + (256u << 10); n += n < 64 ? 1 : n < 4096 ? 16 : (64u << 10)) {
        void* p[5] = {};
        CHECK(posix_memalign(&p[0], a, n) == 0, "posix_memalign(%zu, %zu) failed", a, n);
        p[1] = memalign(a, n);
        p[2] = aligned_alloc(a, (n + a - 1) / a * a);
        p[3] = ::operator new(n, std::align_val_t(a));
        p[4] = ::operator new[](n, std::align_val_t(a), std::nothrow);
        static const char* const names[] = {"posix_memalign", "memalign", "aligned_alloc", "new(align)",
                                            "new[](align, nothrow)"};
        for (int k = 0; k < 5; ++k) {
          CHECK(p[k] != nullptr, "%s(%zu, %zu) = NULL", names[k], a, n);
          CHECK(tm_aligned(p[k], a), "%s(align %zu, size %zu) = %p: misaligned", names[k], a, n, p[k]);
          size_t len = k == 2 ? (n + a - 1) / a * a : n;
          if (k < 3) CHECK(malloc_usable_size(p[k]) >= len, "%s: usable size %zu < %zu", names[k], malloc_usable_size(p[k]), len);
          tm_fill(p[k], len, static_cast<uint32_t>(n * 7 + k));
        }
        for (int k = 0; k < 5; ++k) {
          size_t len = k == 2 ? (n + a - 1) / a * a : n;
          CHECK(tm_verify(p[k], len, static_cast<uint32_t>(n * 7 + k)) == (size_t)-1, "%s(%zu, %zu): contents", names[k], a, n);
          ++checked;
        }
        ::operator delete(p[3], std::align_val_t(a));
        ::operator delete[](p[4], std::align_val_t(a));
        if ((n + round) % 3 == 0) {
          keep.push_back({p[0], 0});
          free(p[1]);
        } else {
          free(p[0]);
          keep.push_back({p[1], 0});
        }
        free(p[2]);
      }
  for (auto& k : keep) free(k.first);
  printf("ALIGNMENT-OK %lu blocks checked\n", checked);
  return 0;
}
