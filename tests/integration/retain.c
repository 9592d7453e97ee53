/* SPDX-License-Identifier: MIT
 * tests/integration/retain.c -- freed huge blocks: kept resident up to TIERMALLOC_RETAIN_MIB,
 * purged beyond it (interpose/retain.cpp, interpose/mimalloc-2.0.9.patch); what is purged and
 * reused reads back correctly.
 *
 *   integ_retain MIN_MIB MAX_MIB
 *
 * Allocates 6 blocks of 20 MiB (each its own segment, one 32 MiB arena block), writes every
 * page, frees them, and checks that the resident set dropped by MIN_MIB..MAX_MIB.  Then
 * calloc's the same sizes again (every byte must be 0, purged or not) and malloc's them
 * with a pattern written and read back.  Prints "retain: dropped N MiB". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm_check.h"

enum { kBlocks = 6 };
static const size_t kSize = (size_t)20 << 20;

static long rss_kib(void) {
  FILE* f = fopen("/proc/self/status", "r");
  CHECK(f != NULL, "cannot open /proc/self/status");
  char line[256];
  long v = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) v = strtol(line + 6, NULL, 10);
  fclose(f);
  CHECK(v > 0, "no VmRSS in /proc/self/status");
  return v;
}

int main(int argc, char** argv) {
  CHECK(argc == 3, "usage: %s MIN_MIB MAX_MIB", argv[0]);
  long lo = strtol(argv[1], NULL, 10), hi = strtol(argv[2], NULL, 10);
  unsigned char* b[kBlocks];
  for (int i = 0; i < kBlocks; ++i) {
    b[i] = malloc(kSize);
    CHECK(b[i] != NULL, "malloc(%zu) failed", kSize);
    for (size_t off = 0; off < kSize; off += 4096) b[i][off] = (unsigned char)(i + 1);
  }
  long full = rss_kib();
  for (int i = 0; i < kBlocks; ++i) free(b[i]);
  long after = rss_kib();
  long dropped = (full - after) / 1024;
  printf("retain: dropped %ld MiB (resident %ld -> %ld KiB)\n", dropped, full, after);
  CHECK(dropped >= lo && dropped <= hi, "the resident set dropped by %ld MiB, expected %ld..%ld", dropped, lo, hi);

  for (int i = 0; i < kBlocks; ++i) {
    unsigned char* p = calloc(1, kSize);
    CHECK(p != NULL, "calloc(%zu) failed", kSize);
    for (size_t off = 0; off < kSize; off += 512)
      CHECK(p[off] == 0 && p[off + 511] == 0, "calloc'ed block %d: byte %zu is %d, expected 0", i, off, p[off] ? p[off] : p[off + 511]);
    b[i] = p;
  }
  for (int i = 0; i < kBlocks; ++i) free(b[i]);
  for (int i = 0; i < kBlocks; ++i) {
    b[i] = malloc(kSize);
    CHECK(b[i] != NULL, "malloc(%zu) failed", kSize);
    for (size_t off = 0; off < kSize; off += 4096) b[i][off] = (unsigned char)(0x40 + i);
  }
  for (int i = 0; i < kBlocks; ++i) {
    for (size_t off = 0; off < kSize; off += 4096)
      CHECK(b[i][off] == (unsigned char)(0x40 + i), "block %d byte %zu: %d, expected %d", i, off, b[i][off], 0x40 + i);
    free(b[i]);
  }
  printf("retain: reuse ok\n");
  return 0;
}
