// SPDX-License-Identifier: MIT
// tests/integration/stats/signal.c: statistics dumps while threads allocate.
//   signal DIR threads   4 threads allocate and free (3 call sites, <= 256 blocks of <= 4096
//                        bytes each); two dumps on SIGUSR2 are copied to DIR/dump1.json and
//                        DIR/dump2.json; the exit dump is TIERMALLOC_STATS (check.py signal)
//   signal DIR usr1      TIERMALLOC_STATS_SIGNAL=USR1: SIGUSR1 dumps
//   signal DIR own       the program's own SIGUSR2 handler: it runs, and no dump happens
//   signal DIR fork      a forked child's SIGUSR2 dumps (the statistics thread restarted)
//   signal DIR pthread_exit   main ends with pthread_exit: the process still exits
// The statistics file is TIERMALLOC_STATS (without %p), except in fork (DIR/fork-%p.json).
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { kThreads = 4, kWindow = 256, kMaxSize = 4096 };
static atomic_int g_stop;
static atomic_long g_ops;

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static void die(const char* what) {
  fprintf(stderr, "FAIL: %s (errno %d)\n", what, errno);
  exit(1);
}

__attribute__((noinline)) void* worker(void* arg) {
  void* win[kWindow] = {0};
  unsigned x = (unsigned)(size_t)arg * 2654435761u + 1;
  long ops = 0;
  while (!atomic_load(&g_stop)) {
    x = x * 1103515245u + 12345u;
    int i = (int)((x >> 8) % kWindow);
    free(win[i]);
    size_t size = 1 + (x >> 16) % kMaxSize;
    switch ((x >> 4) % 3) {  // three call sites
      case 0: win[i] = malloc(size); break;
      case 1: win[i] = calloc(1, size); break;
      default: win[i] = realloc(NULL, size); break;
    }
    if (!win[i]) die("allocation failed");
    memset(win[i], 1, size < 64 ? size : 64);
    // Pauses leave the CPUs to the dumping thread too (2-CPU machines): fewer operations in
    // flight while it reads the counters.
    if ((++ops & 1023) == 0) {
      struct timespec ts = {0, 100000};
      nanosleep(&ts, NULL);
    }
  }
  for (int i = 0; i < kWindow; ++i) free(win[i]);
  atomic_fetch_add(&g_ops, ops);
  return NULL;
}

static ino_t ino_of(const char* path) {
  struct stat st;
  return stat(path, &st) == 0 ? st.st_ino : 0;
}

// Waits until path exists with an inode other than old (a new dump renamed over it).
static int wait_dump(const char* path, ino_t old, long ms) {
  for (long t = 0; t < ms; t += 2) {
    ino_t i = ino_of(path);
    if (i && i != old) return 1;
    sleep_ms(2);
  }
  return 0;
}

static void copy(const char* from, const char* to) {
  char buf[1 << 16];
  int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (in < 0 || out < 0) die("copy");
  ssize_t n;
  while ((n = read(in, buf, sizeof buf)) > 0)
    if (write(out, buf, (size_t)n) != n) die("write");
  close(in);
  close(out);
}

static volatile sig_atomic_t g_own_ran;
static void own_handler(int sig) { g_own_ran = sig; }

static void* late_exit(void* arg) {
  sleep_ms(200);
  free(malloc(100));
  return arg;
}

int main(int argc, char** argv) {
  if (argc != 3) die("usage: signal DIR threads|usr1|own|fork|pthread_exit");
  const char* dir = argv[1];
  const char* mode = argv[2];
  const char* stats = getenv("TIERMALLOC_STATS");
  if (!stats) die("TIERMALLOC_STATS is not set");
  char path[4096];
  if (!strcmp(mode, "pthread_exit")) {
    pthread_t t;
    pthread_create(&t, NULL, late_exit, NULL);
    pthread_exit(NULL);
  }
  if (!strcmp(mode, "fork")) {
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      free(malloc(1000));  // the child's first allocation restarts the statistics thread
      snprintf(path, sizeof path, "%s/fork-%d.json", dir, (int)getpid());
      kill(getpid(), SIGUSR2);
      _exit(wait_dump(path, 0, 5000) ? 0 : 7);  // _exit: no exit dump, only the signal's
    }
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) die("the child's SIGUSR2 produced no dump within 5 s");
    printf("fork: child %d dumped on SIGUSR2\n", (int)pid);
    return 0;
  }
  if (!strcmp(mode, "own")) {
    signal(SIGUSR2, own_handler);
    kill(getpid(), SIGUSR2);
    sleep_ms(300);
    if (g_own_ran != SIGUSR2) die("the program's own SIGUSR2 handler did not run");
    if (ino_of(stats)) die("a statistics dump was written on the program's own SIGUSR2");
    printf("own: the program's handler ran, no dump\n");
    return 0;
  }
  int sig = !strcmp(mode, "usr1") ? SIGUSR1 : SIGUSR2;
  pthread_t th[kThreads];
  for (long i = 0; i < kThreads; ++i)
    if (pthread_create(&th[i], NULL, worker, (void*)i)) die("pthread_create");
  sleep_ms(150);
  kill(getpid(), sig);
  if (!wait_dump(stats, 0, 5000)) die("no dump within 5 s of the first signal");
  ino_t first = ino_of(stats);
  snprintf(path, sizeof path, "%s/dump1.json", dir);
  copy(stats, path);
  sleep_ms(150);
  kill(getpid(), sig);
  if (!wait_dump(stats, first, 5000)) die("no new dump within 5 s of the second signal");
  snprintf(path, sizeof path, "%s/dump2.json", dir);
  copy(stats, path);
  sleep_ms(50);
  atomic_store(&g_stop, 1);
  for (int i = 0; i < kThreads; ++i) pthread_join(th[i], NULL);
  printf("%s: %ld operations in %d threads; THREADS %d WINDOW %d MAXSIZE %d\n", mode, atomic_load(&g_ops), kThreads,
         kThreads, kWindow, kMaxSize);
  return 0;
}
