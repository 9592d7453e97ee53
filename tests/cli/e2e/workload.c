// SPDX-License-Identifier: MIT
// tests/cli/e2e/workload.c -- a program with four known call sites, for the
// record -> suggest -> run -> report test (check_e2e.py knows what each should become):
//   hot_small        200,000 blocks of 64..1000 B, 1,024 live at a time (~0.5 MiB): the hot
//                    small working set -> fast
//   model_weights    6 x 8 MiB allocated at start, live until exit -> capacity
//   temp_buffers     200 x 4 MiB, each freed at once -> scratch (transient)
//   cold_small       100 x 200 B, kept: too few allocations for a rule -> the default
// No stdio: nothing but these call sites allocates after start-up.
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void* volatile weights[6];
static void* volatile ring[1024];
static void* volatile cold[100];
static volatile size_t sink;

__attribute__((noinline)) void model_weights(void) {
  for (int i = 0; i < 6; ++i) {
    weights[i] = malloc(8u << 20);
    memset(weights[i], i, 8u << 20);
  }
}

__attribute__((noinline)) void hot_small(int rounds) {
  for (int r = 0; r < rounds; ++r)
    for (int i = 0; i < 1024; ++i) {
      free(ring[i]);
      size_t n = 64 + (size_t)((r * 1024 + i) * 37 % 937);
      ring[i] = malloc(n);
      ((char*)ring[i])[0] = (char)i;
    }
}

__attribute__((noinline)) void temp_buffers(int n) {
  for (int i = 0; i < n; ++i) {
    char* p = malloc(4u << 20);
    memset(p, i, 4096);
    p[(4u << 20) - 1] = 1;
    sink += (size_t)p[4095];
    free(p);
  }
}

__attribute__((noinline)) void cold_small(void) {
  for (int i = 0; i < 100; ++i) cold[i] = malloc(200);
}

int main(void) {
  model_weights();
  cold_small();
  for (int k = 0; k < 20; ++k) {  // interleaved, so that the run lasts and lifetimes mean something
    hot_small(10);
    temp_buffers(10);
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
  }
  for (int i = 0; i < 1024; ++i) free(ring[i]);
  return 0;
}
