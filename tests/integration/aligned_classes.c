/* SPDX-License-Identifier: MIT
 * tests/integration/aligned_classes.c -- every aligned allocation is aligned, whatever its size
 * class.  mimalloc 2.0.9's mi_heap_malloc_aligned takes a power-of-two size up to 1 KiB straight
 * from its size class, assuming such blocks are naturally aligned: aligned_alloc(256, 1024)
 * returned an address ending in 0x180 (found by bench/suite.py's `aligned` workload; Debian's
 * libmimalloc.so.2 still does it).  For alignments 32 B..64 KiB and sizes 1 B..16 KiB (powers
 * of two and their neighbours), 64 live blocks each through aligned_alloc, posix_memalign and
 * memalign; each must be aligned and writable over its whole size.  Exits 1 at the first
 * misaligned block, naming the call.  Runs plain and under the preload. */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm_check.h"

enum { kLive = 64 };

int main(void) {
  unsigned long checked = 0;
  for (size_t align = 32; align <= 65536; align *= 2) {
    for (size_t base = 1; base <= 16384; base *= 2) {
      size_t sizes[3] = {base, base + 1, base > 1 ? base - 1 : 1};
      for (int k = 0; k < 3; ++k) {
        for (int fn = 0; fn < 3; ++fn) {
          void* live[kLive];
          size_t n = sizes[k];
          if (fn == 0) n = (n + align - 1) / align * align; /* aligned_alloc: a multiple */
          for (int i = 0; i < kLive; ++i) {
            void* p = NULL;
            const char* name = fn == 0 ? "aligned_alloc" : fn == 1 ? "posix_memalign" : "memalign";
            if (fn == 0) p = aligned_alloc(align, n);
            else if (fn == 1) CHECK(posix_memalign(&p, align, n) == 0, "posix_memalign(%zu, %zu) failed", align, n);
            else p = memalign(align, n);
            CHECK(p != NULL, "%s(%zu, %zu) returned NULL", name, align, n);
            CHECK(((uintptr_t)p & (align - 1)) == 0, "%s(%zu, %zu) = %p: not aligned (block %d)", name, align, n, p, i);
            memset(p, 0xA5, n);
            live[i] = p;
            ++checked;
          }
          for (int i = 0; i < kLive; ++i) free(live[i]);
        }
      }
    }
  }
  printf("aligned_classes: %lu blocks aligned\n", checked);
  return 0;
}
