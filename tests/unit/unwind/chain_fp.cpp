// SPDX-License-Identifier: MIT
// Built with -fno-omit-frame-pointer (tests/unit/CMakeLists.txt).
#include "chains.hpp"

extern "C" {
volatile int g_fp_sink;
__attribute__((noinline)) void fp_b(probe_fn f, void* arg) {
  f(arg);
  g_fp_sink = g_fp_sink + 1;
}
__attribute__((noinline)) void fp_a(probe_fn f, void* arg) {
  fp_b(f, arg);
  g_fp_sink = g_fp_sink + 1;
}
__attribute__((noinline)) static void fp_to_vla(void* arg_f) {
  auto* a = static_cast<void**>(arg_f);
  nofp_vla(reinterpret_cast<probe_fn>(a[0]), a[1], 100);
  g_fp_sink = g_fp_sink + 1;
}
__attribute__((noinline)) static void nofp_b_to_fp_b(void* arg_f) {
  auto* a = static_cast<void**>(arg_f);
  fp_b(fp_to_vla, a);
  g_fp_sink = g_fp_sink + 1;
}
__attribute__((noinline)) void mixed(probe_fn f, void* arg) {
  void* a[2] = {reinterpret_cast<void*>(f), arg};
  nofp_b(nofp_b_to_fp_b, a);  // fp_a's frame is this one
  g_fp_sink = g_fp_sink + 1;
}
}
