/* SPDX-License-Identifier: MIT
 * tests/integration/secure/hold.c -- hold.c N MIB: allocates N blocks of MIB MiB (malloc,
 * calloc, realloc in turn), fills them with a pattern, prints "READY <pid>" and waits for a
 * line on stdin (while a script inspects the process), then verifies, frees, prints "DONE". */
#include <stdio.h>
#include <stdlib.h>

#include "tm_check.h"

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 3;
  size_t sz = (size_t)(argc > 2 ? atoi(argv[2]) : 64) << 20;
  void* b[64];
  CHECK(n > 0 && n <= 64, "%d blocks", n);
  for (int i = 0; i < n; ++i) {
    b[i] = i % 3 == 0 ? malloc(sz) : i % 3 == 1 ? calloc(1, sz) : realloc(malloc(100), sz);
    CHECK(b[i], "allocation %d failed", i);
    tm_fill(b[i], sz, (uint32_t)i);
  }
  printf("READY %d\n", (int)getpid());
  fflush(stdout);
  char line[16];
  CHECK(fgets(line, sizeof line, stdin) != NULL, "%s", "no line on stdin");
  for (int i = 0; i < n; ++i) {
    CHECK(tm_verify(b[i], sz, (uint32_t)i) == (size_t)-1, "block %d corrupt", i);
    free(b[i]);
  }
  printf("DONE\n");
  return 0;
}
