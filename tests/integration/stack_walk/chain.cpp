// SPDX-License-Identifier: MIT
// One call chain, top -> mid -> leaf -> allocation, built twice: with frame pointers
// (CHAIN=fp, -fno-omit-frame-pointer) and without (CHAIN=nofp, -fomit-frame-pointer).  The
// allocation site (leaf's call) is the same for every top; only the frame at depth 3 tells
// the tops apart.  mid has a VLA, so its CFA is rbp-based in both builds.
#include <cstdlib>
#include <cstring>
#include <new>

#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define NAME(x) CAT(x, CHAIN)

extern "C" {
volatile int CAT(g_sink, CHAIN);

enum How { kMalloc = 0, kCalloc = 1, kNew = 2, kRealloc = 3 };

__attribute__((noinline, visibility("default"))) void* NAME(leaf)(size_t n, int how) {
  void* p;
  switch (how) {
    case kCalloc: p = std::calloc(1, n); break;
    case kNew: p = ::operator new(n); break;
    case kRealloc: p = std::realloc(nullptr, n); break;
    default: p = std::malloc(n); break;
  }
  CAT(g_sink, CHAIN) = CAT(g_sink, CHAIN) + 1;
  return p;
}
__attribute__((noinline, visibility("default"))) void* NAME(mid)(size_t n, int how) {
  char vla[n % 64 + 8];
  std::memset(vla, 0, sizeof vla);
  asm volatile("" : : "r"(vla) : "memory");
  void* p = NAME(leaf)(n, how);
  CAT(g_sink, CHAIN) = CAT(g_sink, CHAIN) + vla[3];
  return p;
}
// Frame 3 of the allocation's stack: the stack rule's pattern matches hot_top_* only.
__attribute__((noinline, visibility("default"))) void* NAME(hot_top)(size_t n, int how) {
  void* p = NAME(mid)(n, how);
  CAT(g_sink, CHAIN) = CAT(g_sink, CHAIN) + 1;
  return p;
}
__attribute__((noinline, visibility("default"))) void* NAME(cold_top)(size_t n, int how) {
  void* p = NAME(mid)(n, how);
  CAT(g_sink, CHAIN) = CAT(g_sink, CHAIN) + 1;
  return p;
}
// hot_top at frame 4: beyond stack_depth 3, so it must not count.
__attribute__((noinline, visibility("default"))) void* NAME(far_top)(size_t n, int how) {
  void* p = NAME(cold_top)(n, how);
  CAT(g_sink, CHAIN) = CAT(g_sink, CHAIN) + 1;
  return p;
}
__attribute__((noinline, visibility("default"))) void* NAME(far_hot)(size_t n, int how) {
  void* p = NAME(hot_top)(n, how);
  CAT(g_sink, CHAIN) = CAT(g_sink, CHAIN) + 1;
  return p;
}
}
