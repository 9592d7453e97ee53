/* SPDX-License-Identifier: MIT
 * abandoned_collect: a thread's exit visits each abandoned segment about once, and still frees
 * the ones whose blocks other threads freed (interpose/mimalloc-2.0.9.patch,
 * _mi_abandoned_collect; docs/perf/issue7-findings.md section 10).
 *
 * Seven threads, alive together (so none reclaims another's segment), each fill 16 or 32
 * pages of 64-byte blocks, free all but the first 100 (so the emptied pages wait in their
 * segment's decommit mask: MIMALLOC_DECOMMIT_DELAY is set far beyond the test), hand those to
 * main and exit: seven abandoned segments.  Main keeps the blocks of the first four ("kept"),
 * and frees the other three's ("freed") while a last thread B is alive; then B exits.
 *   1. B's life reads the clock (once per visit of a segment whose spans wait for decommit:
 *      mimalloc's _mi_clock_now, through the PLT to the clock_gettime below) a few times,
 *      not ~1000: before the patch the exit's collect took 1024 tries, going round the four
 *      kept segments again and again.
 *   2. B's exit frees the freed threads' segments (their memory is given back at once with
 *      TIERMALLOC_RETAIN_MIB=0): resident memory drops by at least 3 MiB of their 6.
 * Usage: integ_abandoned_collect (under LD_PRELOAD, with the environment above). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static atomic_long g_clock_calls;

/* Exported (-rdynamic): the program's definition comes first in the global scope. */
int clock_gettime(clockid_t id, struct timespec* ts) {
  atomic_fetch_add(&g_clock_calls, 1);
  return (int)syscall(SYS_clock_gettime, id, ts);
}

enum { kKept = 4, kFreed = 3, kThreads = kKept + kFreed, kLive = 100, kBlock = 64 };
static void* g_live[kThreads][kLive];
static pthread_barrier_t g_all_alive;
static pthread_barrier_t g_b_ready, g_b_go;

static long resident_kib(void) {
  FILE* f = fopen("/proc/self/statm", "r");
  long size = 0, res = 0;
  if (!f || fscanf(f, "%ld %ld", &size, &res) != 2) {
    fprintf(stderr, "FAIL %s:%d: cannot read /proc/self/statm\n", __FILE__, __LINE__);
    exit(1);
  }
  fclose(f);
  return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void* filler(void* arg) {
  long t = (long)arg;
  size_t n = (t < kKept ? 16 : 32) * (65536 / kBlock);  /* 16 or 32 pages of 64 KiB */
  void** v = malloc(n * sizeof(void*));
  for (size_t i = 0; i < n; ++i) {
    v[i] = malloc(kBlock);
    memset(v[i], (int)t, kBlock);
  }
  for (size_t i = 0; i < n; ++i) {
    if (i < kLive) g_live[t][i] = v[i];
    else free(v[i]);
  }
  free(v);
  pthread_barrier_wait(&g_all_alive);
  return NULL;
}

static void* last(void* arg) {
  (void)arg;
  void* p = malloc(kBlock);  /* this thread's heap: its exit runs the collect */
  memset(p, 1, kBlock);
  free(p);
  pthread_barrier_wait(&g_b_ready);
  pthread_barrier_wait(&g_b_go);  /* main frees the freed threads' blocks meanwhile */
  return NULL;
}

int main(void) {
  pthread_t th[kThreads], b;
  pthread_barrier_init(&g_all_alive, NULL, kThreads);
  pthread_barrier_init(&g_b_ready, NULL, 2);
  pthread_barrier_init(&g_b_go, NULL, 2);
  for (long t = 0; t < kThreads; ++t) pthread_create(&th[t], NULL, filler, (void*)t);
  for (int t = 0; t < kThreads; ++t) pthread_join(th[t], NULL);

  atomic_store(&g_clock_calls, 0);
  pthread_create(&b, NULL, last, NULL);
  pthread_barrier_wait(&g_b_ready);
  for (int t = kKept; t < kThreads; ++t)
    for (int i = 0; i < kLive; ++i) free(g_live[t][i]);
  long before = resident_kib();
  pthread_barrier_wait(&g_b_go);
  pthread_join(b, NULL);
  long after = resident_kib();
  long calls = atomic_load(&g_clock_calls);

  int bad = 0;
  printf("abandoned_collect: clock reads during the last thread's life %ld; resident %ld -> %ld KiB\n",
         calls, before, after);
  if (calls < 1 || calls > 100) {
    fprintf(stderr, "FAIL %s:%d: expected 1..100 clock reads (one per visit of %d kept segments), got %ld\n",
            __FILE__, __LINE__, kKept, calls);
    bad = 1;
  }
  if (before - after < 3 * 1024) {
    fprintf(stderr, "FAIL %s:%d: expected the freed threads' segments given back at the last exit "
            "(resident down by >= 3072 KiB), got %ld -> %ld KiB\n", __FILE__, __LINE__, before, after);
    bad = 1;
  }
  for (int t = 0; t < kKept; ++t)
    for (int i = 0; i < kLive; ++i) {
      unsigned char* p = g_live[t][i];
      for (int k = 0; k < kBlock; ++k)
        if (p[k] != (unsigned char)t) {
          fprintf(stderr, "FAIL %s:%d: thread %d's block %d byte %d is %u, expected %d\n", __FILE__,
                  __LINE__, t, i, k, p[k], t);
          return 1;
        }
      free(p);
    }
  if (!bad) printf("abandoned_collect: ok\n");
  return bad;
}
