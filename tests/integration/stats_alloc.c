/* SPDX-License-Identifier: MIT
 * stats_alloc: exactly 10 allocations of 2 MiB (and 10 frees), nothing else of 1 MiB or
 * more; prints its pid so that stats_check.sh can find the statistics file. */
#include "tm_check.h"

int main(void) {
  void* p[10];
  for (int i = 0; i < 10; ++i) {
    p[i] = malloc((size_t)2 << 20);
    CHECK(p[i] != NULL, "malloc(2 MiB) #%d failed", i);
    memset(p[i], i, (size_t)2 << 20);
  }
  for (int i = 0; i < 10; ++i) {
    CHECK(((unsigned char*)p[i])[12345] == i, "block %d lost its contents", i);
    free(p[i]);
  }
  printf("pid %ld\n", (long)getpid());
  return 0;
}
