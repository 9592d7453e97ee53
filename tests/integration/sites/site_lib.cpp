// SPDX-License-Identifier: MIT
// A shared library that allocates through malloc, new and a wrapper of its own: built three
// times, as libsite_linked.so (linked by the test program) and as libsite_dl.so /
// libsite_other.so (dlopen'ed), so the same code sits at the same offsets in modules with
// different names.  Each function touches its block after allocating: a bare
// `return malloc(n)` compiles to a tail call, and the call site would then be the caller's.
#include <cstdlib>

extern "C" {

__attribute__((visibility("default"))) void* lib_alloc(size_t n) {
  char* p = static_cast<char*>(std::malloc(n));
  if (p) p[0] = 1;
  return p;
}

__attribute__((visibility("default"))) void* lib_new(size_t n) {
  char* p = new char[n];
  p[0] = 1;
  return p;
}

// The library's own wrapper (the policy lists it under `wrappers:`).
__attribute__((noinline, visibility("default"))) void* lib_xmalloc(size_t n) {
  void* p = std::malloc(n);
  if (!p) std::abort();
  asm volatile("" ::: "memory");
  return p;
}

__attribute__((visibility("default"))) void* lib_wrapped(size_t n) {
  char* p = static_cast<char*>(lib_xmalloc(n));
  p[0] = 1;
  return p;
}
}
