// SPDX-License-Identifier: MIT
// Call chains whose stack rule is decided within one or two frames -- the recorded-stack
// form the stack path's hit reads without a loop (interpose/sites.cpp, FastTrace) -- built
// with frame pointers (CHAIN=fp) and without (CHAIN=nofp: leaf's CFA is rsp-based; leaf_vla's
// is rbp-based in both).  One call instruction in leaf reaches malloc or operator new (through a
// pointer), so one site and one stack differ only by interface.
#include <cstdlib>
#include <cstring>
#include <new>

#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define NAME(x) CAT(x, CHAIN)

extern "C" {
volatile int CAT(g_fast_sink, CHAIN);
using AllocFn = void* (*)(size_t);

// The site: leaf's call of the allocator.
__attribute__((noinline, visibility("default"))) void* NAME(leaf)(size_t n, int use_new) {
  AllocFn f = use_new ? static_cast<AllocFn>(::operator new) : static_cast<AllocFn>(std::malloc);
  asm volatile("" : "+r"(f));
  void* p = f(n);
  CAT(g_fast_sink, CHAIN) = CAT(g_fast_sink, CHAIN) + 1;
  return p;
}
// The same with a VLA: rsp moves below rbp, the site's CFA is rbp-based in both builds.
__attribute__((noinline, visibility("default"))) void* NAME(leaf_vla)(size_t n, int use_new) {
  char vla[n % 64 + 24];
  std::memset(vla, 0, sizeof vla);
  asm volatile("" : : "r"(vla) : "memory");
  AllocFn f = use_new ? static_cast<AllocFn>(::operator new) : static_cast<AllocFn>(std::malloc);
  asm volatile("" : "+r"(f));
  void* p = f(n);
  CAT(g_fast_sink, CHAIN) = CAT(g_fast_sink, CHAIN) + vla[5];
  return p;
}
__attribute__((noinline, visibility("default"))) void* NAME(one_top_vla)(size_t n, int use_new) {
  void* p = NAME(leaf_vla)(n, use_new);
  CAT(g_fast_sink, CHAIN) = CAT(g_fast_sink, CHAIN) + 1;
  return p;
}
__attribute__((noinline, visibility("default"))) void* NAME(cold_vla)(size_t n, int use_new) {
  void* p = NAME(leaf_vla)(n, use_new);
  CAT(g_fast_sink, CHAIN) = CAT(g_fast_sink, CHAIN) + 1;
  return p;
}
// Frame 1 matches (policy stack-fast.yaml: one_top* -> hot for malloc < 512 B): two frames.
__attribute__((noinline, visibility("default"))) void* NAME(one_top)(size_t n, int use_new) {
  void* p = NAME(leaf)(n, use_new);
  CAT(g_fast_sink, CHAIN) = CAT(g_fast_sink, CHAIN) + 1;
  return p;
}
// Nothing matches: the walk looks at stack_depth frames (the general form).
__attribute__((noinline, visibility("default"))) void* NAME(cold)(size_t n, int use_new) {
  void* p = NAME(leaf)(n, use_new);
  CAT(g_fast_sink, CHAIN) = CAT(g_fast_sink, CHAIN) + 1;
  return p;
}
// The site's own function matches: a stack of one frame.
__attribute__((noinline, visibility("default"))) void* NAME(one_top_self)(size_t n, int use_new) {
  AllocFn f = use_new ? static_cast<AllocFn>(::operator new) : static_cast<AllocFn>(std::malloc);
  asm volatile("" : "+r"(f));
  void* p = f(n);
  CAT(g_fast_sink, CHAIN) = CAT(g_fast_sink, CHAIN) + 1;
  return p;
}
}
