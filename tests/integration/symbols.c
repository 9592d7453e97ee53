/* SPDX-License-Identifier: MIT
 * symbols: every name the library exports resolves, through the global scope, to
 * libtiermalloc.so -- not to libc, libstdc++ or the program. */
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static const char* const kNames[] = {
    "malloc", "calloc", "realloc", "reallocarray", "free", "cfree", "posix_memalign", "aligned_alloc",
    "memalign", "valloc", "pvalloc", "malloc_usable_size",
    "__libc_malloc", "__libc_calloc", "__libc_realloc", "__libc_free", "__libc_memalign", "__libc_valloc",
    "__libc_pvalloc", "__posix_memalign",
    "mmap", "mmap64", "munmap", "mremap",
    "tiermalloc_tier_of", "tiermalloc_tier_name",
    "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t", "_ZnwmSt11align_val_t", "_ZnamSt11align_val_t",
    "_ZnwmSt11align_val_tRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t",
    "_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm", "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t",
    "_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t", "_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t",
    "_ZdlPvSt11align_val_tRKSt9nothrow_t", "_ZdaPvSt11align_val_tRKSt9nothrow_t",
};

int main(void) {
  int bad = 0, n = (int)(sizeof kNames / sizeof kNames[0]);
  for (int i = 0; i < n; ++i) {
    void* s = dlsym(RTLD_DEFAULT, kNames[i]);
    if (!s) {
      fprintf(stderr, "FAIL %s: dlsym(RTLD_DEFAULT) found nothing\n", kNames[i]);
      ++bad;
      continue;
    }
    Dl_info info;
    memset(&info, 0, sizeof info);
    if (!dladdr(s, &info) || !info.dli_fname) {
      fprintf(stderr, "FAIL %s: dladdr(%p) names no object\n", kNames[i], s);
      ++bad;
      continue;
    }
    if (!strstr(info.dli_fname, "libtiermalloc")) {
      fprintf(stderr, "FAIL %s: resolves to %s, not libtiermalloc\n", kNames[i], info.dli_fname);
      ++bad;
      continue;
    }
    /* Identical bodies may be folded into aliases, so only the address must match. */
    if (info.dli_saddr != s) {
      fprintf(stderr, "FAIL %s: dladdr's symbol %s starts at %p, not %p\n", kNames[i],
              info.dli_sname ? info.dli_sname : "?", info.dli_saddr, s);
      ++bad;
    }
  }
  if (bad) {
    fprintf(stderr, "symbols: %d of %d names wrong\n", bad, n);
    return 1;
  }
  printf("symbols: %d names resolve to libtiermalloc: PASS\n", n);
  return 0;
}
