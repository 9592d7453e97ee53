// SPDX-License-Identifier: MIT
// tests/integration/lazy_arena.c -- a program that makes no allocation of its own
// (`lazy_arena none`), or exactly one of SIZE bytes (`lazy_arena SIZE`), written through and
// kept.  No stdio (its buffer would be an allocation): lazy_arena.sh reads the library's
// debug log and statistics (issue 7: a tier's arena comes into being at its first allocation).
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  if (strcmp(argv[1], "none") != 0) {
    size_t n = (size_t)strtoul(argv[1], NULL, 10);
    char* p = malloc(n);
    if (!p) return 3;
    memset(p, 0x5a, n);
    if (p[n - 1] != 0x5a) return 4;
  }
  if (write(1, "lazy_arena: done\n", 17) != 17) return 5;
  return 0;
}
