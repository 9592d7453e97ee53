// SPDX-License-Identifier: MIT
// Call chains whose stack rule is decided within one or two frames -- the recorded-stack
// form the stack path's hit reads without a loop (its cache slot, interpose/sites.cpp fill_fast) -- built
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
// how: 0 malloc or 1 operator new (one call instruction, through a pointer), 2 calloc,
// 3 aligned_alloc(64, n rounded up to 64), 4 nothrow operator new.
#define ALLOC(p, n, how)                                                                          \
  void* p;                                                                                        \
  if ((how) == 4) {                                                                               \
    p = ::operator new(n, std::nothrow);                                                          \
  } else if ((how) >= 2) {                                                                        \
    p = (how) == 2 ? std::calloc(1, n) : std::aligned_alloc(64, ((n) + 63) & ~size_t{63});        \
  } else {                                                                                        \
    AllocFn f = (how) ? static_cast<AllocFn>(::operator new) : static_cast<AllocFn>(std::malloc); \
    asm volatile("" : "+r"(f));                                                                   \
    p = f(n);                                                                                     \
  }

// The site: leaf's call of the allocator.
__attribute__((noinline, visibility("default"))) void* NAME(leaf)(size_t n, int how) {
  ALLOC(p, n, how);
  CAT(g_fast_sink, CHAIN) = CAT(g_fast_sink, CHAIN) + 1;
  return p;
}
// The same with a VLA: rsp moves below rbp, the site's CFA is rbp-based in both builds.
__attribute__((noinline, visibility("default"))) void* NAME(leaf_vla)(size_t n, int how) {
  char vla[n % 64 + 24];
  std::memset(vla, 0, sizeof vla);
  asm volatile("" : : "r"(vla) : "memory");
  ALLOC(p, n, how);
  CAT(g_fast_sink, CHAIN) = CAT(g_fast_sink, CHAIN) + vla[5];
  return p;
}
__attribute__((noinline, visibility("default"))) void* NAME(one_top_vla)(size_t n, int how) {
  void* p = NAME(leaf_vla)(n, how);
  CAT(g_fast_sink, CHAIN) = CAT(g_fast_sink, CHAIN) + 1;
  return p;
}
__attribute__((noinline, visibility("default"))) void* NAME(cold_vla)(size_t n, int how) {
  void* p = NAME(leaf_vla)(n, how);
  CAT(g_fast_sink, CHAIN) = CAT(g_fast_sink, CHAIN) + 1;
  return p;
}
// Frame 1 matches (policy stack-fast.yaml: one_top* -> hot below 512 B but for new): two frames.
__attribute__((noinline, visibility("default"))) void* NAME(one_top)(size_t n, int how) {
  void* p = NAME(leaf)(n, how);
  CAT(g_fast_sink, CHAIN) = CAT(g_fast_sink, CHAIN) + 1;
  return p;
}
// Nothing matches: the walk looks at stack_depth frames (the general form).
__attribute__((noinline, visibility("default"))) void* NAME(cold)(size_t n, int how) {
  void* p = NAME(leaf)(n, how);
  CAT(g_fast_sink, CHAIN) = CAT(g_fast_sink, CHAIN) + 1;
  return p;
}
// The site's own function matches: a stack of one frame.
__attribute__((noinline, visibility("default"))) void* NAME(one_top_self)(size_t n, int how) {
  ALLOC(p, n, how);
  CAT(g_fast_sink, CHAIN) = CAT(g_fast_sink, CHAIN) + 1;
  return p;
}
}
