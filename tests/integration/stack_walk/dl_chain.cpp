// SPDX-License-Identifier: MIT
// A dlopen'ed chain, built twice with the same code and another name at depth 3
// (TOP=hot_top_dl or cold_top_dl): after dlclose, the second library usually lands where the
// first was, and a recorded stack of the first must not decide for the second.
#include <cstdlib>

extern "C" {
volatile int g_dl_sink;
__attribute__((noinline)) static void* dl_leaf(size_t n) {
  void* p = std::malloc(n);
  g_dl_sink = g_dl_sink + 1;
  return p;
}
__attribute__((noinline)) static void* dl_mid(size_t n) {
  void* p = dl_leaf(n);
  g_dl_sink = g_dl_sink + 1;
  return p;
}
__attribute__((noinline, visibility("default"))) void* TOP(size_t n) {
  void* p = dl_mid(n);
  g_dl_sink = g_dl_sink + 1;
  return p;
}
__attribute__((visibility("default"))) void* dl_entry(size_t n) {
  void* p = TOP(n);
  g_dl_sink = g_dl_sink + 1;
  return p;
}
}
