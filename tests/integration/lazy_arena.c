// SPDX-License-Identifier: MIT
// tests/integration/lazy_arena.c -- a program that makes no allocation of its own
// (`lazy_arena none`), or exactly one of SIZE bytes (`lazy_arena SIZE`), written through and
// kept.  No stdio (its buffer would be an allocation): lazy_arena.sh reads the library's
// debug log and statistics (issue 7: a tier's arena comes into being at its first allocation).
// `lazy_arena SIZE DIR` first removes DIR/*.tmpc, the cached policy whose rules the library
// reads at the first allocation (getdents64: opendir would allocate).
#define _GNU_SOURCE 1
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void remove_cached(const char* dir) {
  static char buf[8192];
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) _exit(6);
  long n;
  while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0)
    for (long off = 0; off < n;) {
      unsigned short reclen;
      memcpy(&reclen, buf + off + 16, sizeof reclen);
      const char* name = buf + off + 19;
      size_t len = strlen(name);
      if (len > 5 && strcmp(name + len - 5, ".tmpc") == 0 && unlinkat(fd, name, 0) != 0) _exit(7);
      off += reclen;
    }
  close(fd);
}

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) return 2;
  if (argc == 3) remove_cached(argv[2]);
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
