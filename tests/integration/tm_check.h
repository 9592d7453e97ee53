/* SPDX-License-Identifier: MIT
 * tests/integration/tm_check.h -- shared helpers for the preload test programs.
 * Works from C and C++.  The programs also build and run without the library: the
 * introspection symbols are looked up at run time with dlsym(RTLD_DEFAULT). */
#ifndef TM_CHECK_H
#define TM_CHECK_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef __cplusplus
#define TM_INLINE inline
#else
#define TM_INLINE static inline
#endif

/* Prints the failed condition with its location and exits 1 (from any thread). */
#define CHECK(cond, ...)                                                                    \
  do {                                                                                      \
    if (!(cond)) tm_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                           \
  } while (0)

__attribute__((noreturn, format(printf, 4, 5))) TM_INLINE void tm_fail(const char* file, int line,
                                                                       const char* cond, const char* fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "FAIL %s:%d: %s -- %s\n", file, line, cond, msg);
  fflush(stderr);
  _exit(1);
}

/* Keeps the compiler from eliding allocation/free pairs or the stores into a block. */
TM_INLINE void tm_escape(void* p) { __asm__ volatile("" : : "g"(p) : "memory"); }

typedef int (*tm_tier_of_fn)(const void*);
typedef const char* (*tm_tier_name_fn)(int);

/* NULL when the program runs without libtiermalloc.so. */
TM_INLINE tm_tier_of_fn tm_tier_of_sym(void) {
  return (tm_tier_of_fn)dlsym(RTLD_DEFAULT, "tiermalloc_tier_of");
}
TM_INLINE tm_tier_name_fn tm_tier_name_sym(void) {
  return (tm_tier_name_fn)dlsym(RTLD_DEFAULT, "tiermalloc_tier_name");
}

/* Index of the tier called `name` in the policy in force, or -1. */
TM_INLINE int tm_tier_index(const char* name) {
  tm_tier_name_fn fn = tm_tier_name_sym();
  if (!fn) return -1;
  for (int i = 0; i < 64; ++i) {
    const char* n = fn(i);
    if (!n) break;
    if (strcmp(n, name) == 0) return i;
  }
  return -1;
}

/* A pattern that depends on the block's seed and the offset only (so a prefix survives a
 * realloc unchanged): byte i is byte i%8 of the 64-bit word tm_word(seed, i/8). */
TM_INLINE uint64_t tm_word(uint32_t seed, size_t k) {
  return ((uint64_t)k + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)seed + 1) * 0xD6E8FEB86659FD93ull;
}
TM_INLINE unsigned char tm_pat(uint32_t seed, size_t i) {
  return (unsigned char)(tm_word(seed, i / 8) >> (8 * (i % 8)));
}
/* Writes the pattern over bytes [from, to) of p. */
TM_INLINE void tm_fill_range(void* p, size_t from, size_t to, uint32_t seed) {
  unsigned char* c = (unsigned char*)p;
  size_t i = from;
  for (; i < to && i % 8; ++i) c[i] = tm_pat(seed, i);
  for (; i + 8 <= to; i += 8) {
    uint64_t w = tm_word(seed, i / 8);
    memcpy(c + i, &w, 8);
  }
  for (; i < to; ++i) c[i] = tm_pat(seed, i);
}
TM_INLINE void tm_fill(void* p, size_t n, uint32_t seed) { tm_fill_range(p, 0, n, seed); }
/* Offset of the first byte that differs from the pattern, or (size_t)-1. */
TM_INLINE size_t tm_verify(const void* p, size_t n, uint32_t seed) {
  const unsigned char* c = (const unsigned char*)p;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w, want = tm_word(seed, i / 8);
    memcpy(&w, c + i, 8);
    if (w != want) break;
  }
  for (; i < n; ++i)
    if (c[i] != tm_pat(seed, i)) return i;
  return (size_t)-1;
}
TM_INLINE int tm_aligned(const void* p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

#endif
