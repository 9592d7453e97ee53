// SPDX-License-Identifier: MIT
// tests/integration/secure -- linked against libtiermalloc.so (a setuid program ignores
// LD_PRELOAD paths): prints whether the kernel marked the process as secure-execution and
// whether a policy from TIERMALLOC_POLICY is in force (tier 1 exists).
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>

const char* tiermalloc_tier_name(int);

int main(void) {
  void* p = malloc(2 << 20);
  const char* n = tiermalloc_tier_name(1);
  printf("secure=%lu tier1=%s\n", getauxval(AT_SECURE), n ? n : "(none)");
  free(p);
  return 0;
}
