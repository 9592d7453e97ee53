// SPDX-License-Identifier: MIT
// Built with -fomit-frame-pointer (tests/unit/CMakeLists.txt).
#include <cstring>

#include "chains.hpp"

extern "C" {
volatile int g_nofp_sink;
__attribute__((noinline)) void nofp_b(probe_fn f, void* arg) {
  f(arg);
  g_nofp_sink = g_nofp_sink + 1;
}
__attribute__((noinline)) void nofp_a(probe_fn f, void* arg) {
  nofp_b(f, arg);
  g_nofp_sink = g_nofp_sink + 1;
}
__attribute__((noinline)) void nofp_vla(probe_fn f, void* arg, size_t n) {
  char buf[n];
  std::memset(buf, 1, n);
  asm volatile("" : : "r"(buf) : "memory");
  f(arg);
  g_nofp_sink = g_nofp_sink + buf[n / 2];
}
__attribute__((noinline)) void nofp_recurse(probe_fn f, void* arg, int n) {
  if (n > 0) nofp_recurse(f, arg, n - 1);
  else f(arg);
  g_nofp_sink = g_nofp_sink + 1;
}
}
