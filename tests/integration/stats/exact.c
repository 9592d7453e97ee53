// SPDX-License-Identifier: MIT
// tests/integration/stats/exact.c: allocations whose statistics and profile are known to
// the byte (check.py holds the expected figures).  No stdio: nothing but these call sites
// allocates after the library's start-up.
//   exact [SLEEP_MS]   SLEEP_MS: sleep at the end (the timeline's halving test)
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static void* volatile keep[64];
static volatile int two = 2, three = 3, ten = 10;  // loops the compiler cannot unroll: one call site each

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

// 10 blocks, sizes 16..100 (histogram [16,31]:3 [32,63]:1 [64,127]:6), the first 4 freed.
__attribute__((noinline)) void hot_small(void) {
  static const size_t sizes[10] = {16, 20, 31, 32, 100, 100, 100, 100, 100, 100};
  for (int i = 0; i < ten; ++i) keep[i] = malloc(sizes[i]);
  for (int i = 0; i < 4; ++i) free(keep[i]);
}

// Rule calloc-fn: 2 x 320 bytes to tier mid, one freed.
__attribute__((noinline)) void named_calloc(void) {
  for (int i = 0; i < two; ++i) keep[10 + i] = calloc(5, 64);
  free(keep[10]);
}

// rule-3 (api aligned): 1000 bytes to tier mid, kept.
__attribute__((noinline)) void aligned_one(void) {
  void* p = NULL;
  if (posix_memalign(&p, 64, 1000) != 0) _exit(3);
  keep[12] = p;
}

// One call site reallocating 100 -> 200 -> 5000, then freed: 3 allocations, 3 frees.
__attribute__((noinline)) void grow(void) {
  static const size_t sizes[3] = {100, 200, 5000};
  void* p = NULL;
  for (int i = 0; i < three; ++i) {
    p = realloc(p, sizes[i]);
    memset(p, 1, sizes[i]);
  }
  free(p);
}

// Two 4 KiB blocks living ~40 ms each (lifetime).
__attribute__((noinline)) void slow_lived(void) {
  for (int i = 0; i < two; ++i) {
    void* p = malloc(4096);
    memset(p, 2, 4096);
    sleep_ms(40);
    free(p);
  }
}

// Anonymous mappings (counted in profiles only): 64 KiB unmapped, and 16 KiB grown to 32 KiB
// by mremap (the old mapping's free and a new one at the same site), unmapped.
__attribute__((noinline)) void mapped(void) {
  static const size_t sizes[2] = {65536, 16384};
  for (int i = 0; i < two; ++i) {
    void* p = mmap(NULL, sizes[i], PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) _exit(4);
    size_t len = sizes[i];
    if (i == 1) {
      p = mremap(p, len, 2 * len, MREMAP_MAYMOVE);
      if (p == MAP_FAILED) _exit(5);
      len *= 2;
    }
    munmap(p, len);
  }
}

// Rule large: 3 x 2 MiB to tier far, held 150 ms (the timeline sees them), then freed.
__attribute__((noinline)) void big_buffers(void) {
  for (int i = 0; i < three; ++i) {
    keep[20 + i] = malloc(2 << 20);
    memset(keep[20 + i], 3, 2 << 20);
  }
  sleep_ms(150);
  for (int i = 0; i < 3; ++i) free(keep[20 + i]);
}

int main(int argc, char** argv) {
  hot_small();
  named_calloc();
  aligned_one();
  grow();
  slow_lived();
  mapped();
  big_buffers();
  if (argc > 1) sleep_ms(atol(argv[1]));
  return 0;
}
