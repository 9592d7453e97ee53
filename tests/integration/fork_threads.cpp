// SPDX-License-Identifier: MIT
// fork_threads: fork while other threads allocate.
//
// Four workers churn the heap (malloc, calloc, new, aligned, realloc; a few blocks >= 1 MiB
// so that under the split policy two tiers are in use) and publish some of their blocks in
// a shared table.  The main thread, and one worker, fork repeatedly.  Each child checks
// and frees blocks allocated before the fork by the forking thread and by the others,
// reallocates some, allocates anew (also from a thread it starts), and exits 0; the parent
// checks every child's status.  Finally: fork + exec of /bin/true, and posix_spawn.
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <new>

#include "tm_check.h"

extern char** environ;

namespace {

constexpr int kWorkers = 4;
constexpr int kSlots = 48;            // published blocks per owner (workers + main)
constexpr int kMainForks = 8;
constexpr int kWorkerForks = 3;

struct Block {
  void* p;
  size_t n;
  uint32_t seed;
};

// The table of published blocks.  Our atfork handlers hold its lock across fork, so the
// child sees every entry whole.
pthread_mutex_t g_pub_lock = PTHREAD_MUTEX_INITIALIZER;
Block g_pub[kWorkers + 1][kSlots];
std::atomic<bool> g_stop{false};
std::atomic<int> g_worker_forks{0};
tm_tier_of_fn g_tier_of;

void pub_lock() { pthread_mutex_lock(&g_pub_lock); }
void pub_unlock() { pthread_mutex_unlock(&g_pub_lock); }

uint32_t rnd(uint32_t* s) {
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return *s;
}

size_t pick_size(uint32_t* s) {
  uint32_t r = rnd(s) % 100;
  if (r < 60) return 1 + rnd(s) % 256;
  if (r < 90) return 256 + rnd(s) % 32768;
  if (r < 97) return 32768 + rnd(s) % (512 << 10);
  return (size_t{1} << 20) + rnd(s) % (1 << 20);  // >= 1 MiB: the second tier under the policy
}

void* alloc_any(size_t n, uint32_t* s) {
  void* p = nullptr;
  switch (rnd(s) % 4) {
    case 0: p = malloc(n); break;
    case 1: p = calloc(1, n); break;
    case 2: if (posix_memalign(&p, 64, n) != 0) p = nullptr; break;
    case 3: p = realloc(nullptr, n); break;
  }
  CHECK(p != nullptr, "allocation of %zu bytes failed", n);
  return p;
}

Block make_block(uint32_t* s) {
  Block b;
  b.n = pick_size(s);
  b.seed = rnd(s);
  b.p = alloc_any(b.n, s);
  tm_fill(b.p, b.n, b.seed);
  return b;
}

void check_block(const Block& b, const char* who) {
  size_t bad = tm_verify(b.p, b.n, b.seed);
  CHECK(bad == static_cast<size_t>(-1), "%s: block %p (%zu bytes) corrupt at byte %zu", who, b.p, b.n, bad);
  if (g_tier_of) CHECK(g_tier_of(b.p) >= 0, "%s: block %p is not in a tier", who, b.p);
}

// ---- what a child does --------------------------------------------------------------
struct ChildThreadArg {
  int owner;
  uint32_t seed;
};

void* child_thread(void* a) {
  ChildThreadArg* arg = static_cast<ChildThreadArg*>(a);
  uint32_t s = arg->seed;
  // Free the blocks of one owner (allocated in the parent), then churn.
  for (int i = 0; i < kSlots; ++i) {
    Block& b = g_pub[arg->owner][i];
    if (!b.p) continue;
    check_block(b, "child thread");
    free(b.p);
    b.p = nullptr;
  }
  Block mine[32] = {};
  for (int it = 0; it < 150; ++it) {
    Block& m = mine[rnd(&s) % 32];
    if (m.p) {
      check_block(m, "child thread churn");
      free(m.p);
    }
    m = make_block(&s);
  }
  for (Block& m : mine)
    if (m.p) {
      check_block(m, "child thread churn");
      free(m.p);
    }
  return nullptr;
}

[[noreturn]] void child_main(int forker, Block* own, int nown, uint32_t seed) {
  uint32_t s = seed | 1;
  // 1. The forking thread's own pre-fork blocks.
  for (int i = 0; i < nown; ++i) {
    check_block(own[i], "child: own block");
    if (i % 2) {
      void* q = realloc(own[i].p, own[i].n * 2 + 1);
      CHECK(q != nullptr, "child: realloc failed");
      own[i].p = q;
      check_block(own[i], "child: own block after realloc");
    }
    free(own[i].p);
  }
  // 2. Published blocks of every owner: check all; grow some; free those of two owners here,
  //    those of two others from threads started in the child.
  for (int o = 0; o <= kWorkers; ++o)
    for (int i = 0; i < kSlots; ++i) {
      Block& b = g_pub[o][i];
      if (!b.p) continue;
      check_block(b, "child: published block");
      if (i % 3 == 0) {
        void* q = realloc(b.p, b.n + 3000);
        CHECK(q != nullptr, "child: realloc failed");
        b.p = q;
        check_block(b, "child: published block after realloc");
      }
    }
  ChildThreadArg args[2] = {{(forker + 1) % (kWorkers + 1), s ^ 0x1111}, {(forker + 2) % (kWorkers + 1), s ^ 0x2222}};
  pthread_t t[2];
  for (int k = 0; k < 2; ++k) CHECK(pthread_create(&t[k], nullptr, child_thread, &args[k]) == 0, "child: pthread_create");
  for (int o = 0; o <= kWorkers; ++o) {
    if (o == args[0].owner || o == args[1].owner) continue;
    for (int i = 0; i < kSlots; ++i)
      if (g_pub[o][i].p) {
        free(g_pub[o][i].p);
        g_pub[o][i].p = nullptr;
      }
  }
  // 3. New allocations of every kind.
  for (int it = 0; it < 100; ++it) {
    Block b = make_block(&s);
    check_block(b, "child: new block");
    free(b.p);
  }
  int* arr = new int[5000];
  for (int i = 0; i < 5000; ++i) arr[i] = i * 3;
  tm_escape(arr);
  for (int i = 0; i < 5000; ++i) CHECK(arr[i] == i * 3, "child: new[] contents");
  delete[] arr;
  for (int k = 0; k < 2; ++k) CHECK(pthread_join(t[k], nullptr) == 0, "child: pthread_join");
  if (seed & 2) exit(0);  // through atexit handlers and library destructors
  _exit(0);
}

// ---- forking ------------------------------------------------------------------------
void fork_once(int forker, uint32_t* s, int round) {
  Block own[16];
  for (Block& b : own) b = make_block(s);
  uint32_t child_seed = rnd(s);
  pid_t pid = fork();
  CHECK(pid >= 0, "fork failed: errno %d", errno);
  if (pid == 0) child_main(forker, own, 16, child_seed);
  int st = 0;
  CHECK(waitpid(pid, &st, 0) == pid, "waitpid failed: errno %d", errno);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d of %s (round %d) ended with status 0x%x%s", pid,
        forker == kWorkers ? "main" : "a worker", round, st, WIFSIGNALED(st) ? " (killed by a signal)" : "");
  for (Block& b : own) {
    check_block(b, "parent after fork");
    free(b.p);
  }
}

void* worker(void* a) {
  int id = static_cast<int>(reinterpret_cast<intptr_t>(a));
  uint32_t s = 0x9e3779b9u * static_cast<uint32_t>(id + 1);
  Block local[64] = {};
  int forks = 0;
  for (uint64_t it = 0; !g_stop.load(std::memory_order_relaxed); ++it) {
    Block& l = local[rnd(&s) % 64];
    if (l.p) {
      check_block(l, "worker");
      if (rnd(&s) % 4 == 0) {
        l.n = l.n / 2 + 1;  // shrink in place or move; the prefix is kept
        l.p = realloc(l.p, l.n);
        CHECK(l.p != nullptr, "worker: realloc failed");
        check_block(l, "worker after realloc");
      }
      free(l.p);
    }
    l = make_block(&s);
    if (it % 8 == 0) {
      Block nb = make_block(&s);
      pub_lock();
      Block& slot = g_pub[id][rnd(&s) % kSlots];
      Block old = slot;
      slot = nb;
      pub_unlock();
      if (old.p) {
        check_block(old, "worker: published block");
        free(old.p);
      }
    }
    if (id == 0 && forks < kWorkerForks && it % 500 == 499) {
      fork_once(id, &s, forks);
      ++forks;
      g_worker_forks.store(forks);
    }
  }
  for (Block& l : local)
    if (l.p) {
      check_block(l, "worker at end");
      free(l.p);
    }
  return nullptr;
}

void run_and_wait(const char* what, pid_t pid) {
  int st = 0;
  CHECK(waitpid(pid, &st, 0) == pid, "%s: waitpid failed: errno %d", what, errno);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status 0x%x", what, st);
}

}  // namespace

int main() {
  g_tier_of = tm_tier_of_sym();
  pthread_atfork(pub_lock, pub_unlock, pub_unlock);
  uint32_t s = 12345;
  for (int i = 0; i < kSlots; ++i) g_pub[kWorkers][i] = make_block(&s);

  pthread_t t[kWorkers];
  for (int i = 0; i < kWorkers; ++i)
    CHECK(pthread_create(&t[i], nullptr, worker, reinterpret_cast<void*>(static_cast<intptr_t>(i))) == 0, "pthread_create");
  for (int round = 0; round < kMainForks; ++round) {
    usleep(5000);
    // Replace some of main's published blocks so that they are freshly allocated at fork.
    for (int k = 0; k < 4; ++k) {
      Block nb = make_block(&s);
      pub_lock();
      Block& slot = g_pub[kWorkers][(rnd(&s) + k) % kSlots];
      Block old = slot;
      slot = nb;
      pub_unlock();
      if (old.p) {
        check_block(old, "main: published block");
        free(old.p);
      }
    }
    fork_once(kWorkers, &s, round);
  }
  // Let worker 0 finish its forks (it forks every 500 iterations; give it at most 3 s).
  for (int wait = 0; wait < 3000 && g_worker_forks.load() < kWorkerForks; ++wait) usleep(1000);
  g_stop.store(true);
  for (int i = 0; i < kWorkers; ++i) CHECK(pthread_join(t[i], nullptr) == 0, "pthread_join");

  // fork + exec, from a process with a used heap.
  for (int k = 0; k < 3; ++k) {
    pid_t pid = fork();
    CHECK(pid >= 0, "fork failed");
    if (pid == 0) {
      void* p = malloc(100 + k * (1 << 20));
      tm_escape(p);
      execl("/bin/true", "true", static_cast<char*>(nullptr));
      _exit(127);
    }
    run_and_wait("fork + exec /bin/true", pid);
  }
  pid_t pid;
  char arg0[] = "true";
  char* argv[] = {arg0, nullptr};
  CHECK(posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) == 0, "posix_spawn failed");
  run_and_wait("posix_spawn /bin/true", pid);

  for (int o = 0; o <= kWorkers; ++o)
    for (int i = 0; i < kSlots; ++i)
      if (g_pub[o][i].p) {
        check_block(g_pub[o][i], "main at end");
        free(g_pub[o][i].p);
      }
  CHECK(g_worker_forks.load() == kWorkerForks, "worker 0 forked %d times, expected %d", g_worker_forks.load(), kWorkerForks);
  printf("fork_threads: %d forks from main, %d from a worker, exec and spawn: PASS\n", kMainForks, g_worker_forks.load());
  return 0;
}
