// SPDX-License-Identifier: MIT
// A shared library that allocates: built twice, as libsite_linked.so (linked by the test
// program) and as libsite_dl.so / libsite_other.so (dlopen'ed), so the same code sits at
// the same offsets in modules with different names.  It touches the block after malloc
// returns: a bare `return malloc(n)` compiles to a tail call, and the call site would then
// be lib_alloc's caller (which is what a wrapper wants, and not what this test is about).
#include <stdlib.h>

void* lib_alloc(size_t n) {
  char* p = malloc(n);
  if (p) p[0] = 1;
  return p;
}
