// SPDX-License-Identifier: MIT
// tests/stress/dl_lib.cpp -- built twice (libstress_dl_a.so, libstress_dl_b.so) for the
// dlopen mode of stress.cpp: allocates and fills blocks, verifies and frees blocks that the
// other copy made.  Its constructor and destructor allocate too (run at dlopen/dlclose).
#include <stdlib.h>

#include <new>
#include <string>
#include <vector>

#include "tm_check.h"

namespace {
struct Global {
  std::vector<std::string> v;
  Global() {
    for (int i = 0; i < 32; ++i) v.push_back(std::string(40 + i * 13, static_cast<char>('a' + i % 26)));
  }
  ~Global() {
    for (int i = 0; i < 32; ++i)
      if (v[i].size() != static_cast<size_t>(40 + i * 13) || v[i][v[i].size() - 1] != 'a' + i % 26) abort();
    std::vector<std::string>().swap(v);
    void* p = malloc(4096);  // allocation in a library destructor, at dlclose
    tm_fill(p, 4096, 3);
    if (tm_verify(p, 4096, 3) != (size_t)-1) abort();
    free(p);
  }
} g_global;
}  // namespace

// how: 0 malloc, 1 calloc (zeros checked), 2 new[], 3 posix_memalign(64)
extern "C" __attribute__((visibility("default"))) void* stress_lib_alloc(size_t n, uint32_t seed, int how) {
  void* p = nullptr;
  switch (how) {
    case 0: p = malloc(n); break;
    case 1:
      p = calloc(1, n);
      for (size_t i = 0; p && i < n; ++i)
        if (static_cast<unsigned char*>(p)[i]) return nullptr;
      break;
    case 2: p = ::operator new[](n); break;
    default:
      if (posix_memalign(&p, 64, n)) p = nullptr;
  }
  if (p) tm_fill(p, n, seed);
  return p;
}

// 0 when the block still holds its pattern (and is freed), 1 otherwise.
extern "C" __attribute__((visibility("default"))) int stress_lib_free(void* p, size_t n, uint32_t seed, int how) {
  if (tm_verify(p, n, seed) != (size_t)-1) return 1;
  if (how == 2) ::operator delete[](p);
  else free(p);
  return 0;
}
