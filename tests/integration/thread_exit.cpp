// SPDX-License-Identifier: MIT
// thread_exit: blocks outliving their threads, and allocation during thread exit.
//
//  A. Rounds of short-lived threads: each allocates blocks of many sizes (some >= 1 MiB),
//     frees half and hands the rest to the main thread, which checks them after the thread
//     has exited, reallocates some and frees them all.  Some threads end with pthread_exit,
//     some are detached.
//  B. pthread_key destructors that allocate, hand blocks over and re-arm themselves: they
//     run after the library's own thread-exit destructor (its key is created first), so
//     these allocations come from a thread the library already saw exit.  `keyN` runs
//     only this part, with N destructor calls per thread.
//  C. C++ thread_local objects whose destructors allocate (std::vector growth, new[]).
//  D. Threads that only free blocks of other threads, then exit.
#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "tm_check.h"

namespace {

struct Block {
  void* p;
  size_t n;
  uint32_t seed;
  const char* origin;
};

constexpr int kMaxHanded = 20000;
pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
Block g_handed[kMaxHanded];
int g_nhanded = 0;
tm_tier_of_fn g_tier_of;
pthread_key_t g_key;
std::atomic<int> g_key_dtor_runs{0};
int g_key_calls = 2;  // times each thread's key destructor runs (re-arming itself)
std::atomic<int> g_tls_dtor_runs{0};
std::atomic<int> g_detached_done{0};

void hand_over(void* p, size_t n, uint32_t seed, const char* origin) {
  CHECK(p != nullptr, "%s: allocation of %zu bytes failed", origin, n);
  if (g_tier_of) CHECK(g_tier_of(p) >= 0, "%s: block %p of %zu bytes is not in a tier", origin, p, n);
  tm_fill(p, n, seed);
  pthread_mutex_lock(&g_lock);
  CHECK(g_nhanded < kMaxHanded, "too many handed blocks");
  g_handed[g_nhanded++] = Block{p, n, seed, origin};
  pthread_mutex_unlock(&g_lock);
}

// Main thread: checks and frees (or reallocates, then frees) every handed-over block.
int drain(bool realloc_some) {
  pthread_mutex_lock(&g_lock);
  int n = g_nhanded;
  for (int i = 0; i < n; ++i) {
    Block& b = g_handed[i];
    size_t bad = tm_verify(b.p, b.n, b.seed);
    CHECK(bad == static_cast<size_t>(-1), "block from %s (%zu bytes) corrupt at byte %zu after its thread exited", b.origin,
          b.n, bad);
    if (realloc_some && i % 4 == 0) {
      size_t nn = b.n * 3 / 2 + 10;
      void* q = realloc(b.p, nn);
      CHECK(q != nullptr, "realloc of a block from %s failed", b.origin);
      bad = tm_verify(q, b.n, b.seed);
      CHECK(bad == static_cast<size_t>(-1), "realloc of a block from %s lost byte %zu", b.origin, bad);
      b.p = q;
    }
    free(b.p);
  }
  g_nhanded = 0;
  pthread_mutex_unlock(&g_lock);
  return n;
}

size_t size_for(int i) {
  static const size_t sizes[] = {1, 8, 16, 24, 100, 512, 1000, 4096, 10000, 65536, 300000, (size_t{3} << 19)};
  return sizes[i % (sizeof sizes / sizeof sizes[0])];
}

// ---- A ------------------------------------------------------------------------------
void* short_lived(void* a) {
  int id = static_cast<int>(reinterpret_cast<intptr_t>(a));
  std::vector<void*> mine;
  for (int i = 0; i < 40; ++i) {
    size_t n = size_for(i + id);
    uint32_t seed = static_cast<uint32_t>(id * 1000 + i);
    void* p;
    switch (i % 4) {
      case 0: p = malloc(n); break;
      case 1: p = calloc(n, 1); break;
      case 2: p = aligned_alloc(64, n); break;
      default: p = realloc(malloc(n / 2 + 1), n); break;
    }
    if (i % 2) {
      hand_over(p, n, seed, "short-lived thread");
    } else {
      CHECK(p != nullptr, "allocation failed");
      tm_fill(p, n, seed);
      mine.push_back(p);
    }
  }
  for (void* p : mine) free(p);
  if (id % 3 == 0) pthread_exit(nullptr);
  return nullptr;
}

void* short_lived_detached(void* a) {
  int id = static_cast<int>(reinterpret_cast<intptr_t>(a));
  void* p = malloc(size_for(id));
  hand_over(p, size_for(id), static_cast<uint32_t>(id), "detached thread");
  int* q = new int[64];
  tm_escape(q);
  delete[] q;
  g_detached_done.fetch_add(1);
  return nullptr;
}

// ---- B ------------------------------------------------------------------------------
struct KeyState {
  int round;
  char text[64];
};

void key_dtor(void* v) {
  KeyState* ks = static_cast<KeyState*>(v);
  CHECK(strcmp(ks->text, "thread key value") == 0, "key value corrupt in round %d", ks->round);
  g_key_dtor_runs.fetch_add(1);
  // Allocate after the library's thread-exit destructor has run.
  void* a = malloc(200);
  hand_over(a, 200, 7u + static_cast<uint32_t>(ks->round), "key destructor (malloc)");
  void* b = ::operator new(size_t{2} << 20);
  hand_over(b, size_t{2} << 20, 8u + static_cast<uint32_t>(ks->round), "key destructor (new, 2 MiB)");
  void* c = nullptr;
  CHECK(posix_memalign(&c, 4096, 5000) == 0, "posix_memalign in a key destructor");
  hand_over(c, 5000, 9u + static_cast<uint32_t>(ks->round), "key destructor (posix_memalign)");
  std::string s(1000, 'x');
  s += std::to_string(ks->round);
  CHECK(s.size() > 1000 && s[999] == 'x', "std::string in a key destructor");
  void* tmp = malloc(3 << 20);
  CHECK(tmp != nullptr, "malloc(3 MiB) in a key destructor");
  memset(tmp, 1, 3 << 20);
  free(tmp);
  int round = ks->round;
  free(ks);
  if (round + 1 < g_key_calls) {  // re-arm: glibc calls destructors up to PTHREAD_DESTRUCTOR_ITERATIONS (4) times
    KeyState* next = static_cast<KeyState*>(malloc(sizeof(KeyState)));
    CHECK(next != nullptr, "malloc in a key destructor");
    next->round = round + 1;
    strcpy(next->text, "thread key value");
    pthread_setspecific(g_key, next);
  }
}

void* key_thread(void* a) {
  KeyState* ks = static_cast<KeyState*>(malloc(sizeof(KeyState)));
  CHECK(ks != nullptr, "malloc");
  ks->round = 0;
  strcpy(ks->text, "thread key value");
  pthread_setspecific(g_key, ks);
  // Some threads allocate before exit, some do nothing else: both must work.
  if (reinterpret_cast<intptr_t>(a) % 2) {
    void* p = malloc(1 << 20);
    hand_over(p, 1 << 20, 1234, "key thread body");
  }
  return nullptr;
}

// ---- C ------------------------------------------------------------------------------
struct TlsObject {
  std::vector<int> v;
  int* arr = nullptr;
  TlsObject() { v.reserve(4); }
  ~TlsObject() {
    size_t base = v.size();
    for (int i = 0; i < 20000; ++i) v.push_back(i);  // grows through several reallocations
    for (int i = 0; i < 20000; ++i) CHECK(v[base + static_cast<size_t>(i)] == i, "vector in a thread_local destructor");
    arr = new int[1 << 18];  // 1 MiB
    hand_over(arr, sizeof(int) << 18, 4242, "thread_local destructor (new[])");
    void* p = malloc(777);
    hand_over(p, 777, 4343, "thread_local destructor (malloc)");
    g_tls_dtor_runs.fetch_add(1);
  }
};
thread_local TlsObject t_obj;

void tls_thread(int i) {
  t_obj.v.push_back(i);  // constructs the object: its destructor runs at thread exit
  void* p = malloc(64);
  hand_over(p, 64, static_cast<uint32_t>(i), "tls thread body");
}

// ---- D ------------------------------------------------------------------------------
void* free_only(void* a) {
  std::vector<Block>* blocks = static_cast<std::vector<Block>*>(a);
  for (const Block& b : *blocks) {
    size_t bad = tm_verify(b.p, b.n, b.seed);
    CHECK(bad == static_cast<size_t>(-1), "free-only thread: block corrupt at %zu", bad);
    free(b.p);
  }
  return nullptr;
}

// B: threads whose key destructor runs g_key_calls times, allocating each time.
int run_key_threads() {
  int total = 0;
  for (int round = 0; round < 4; ++round) {
    pthread_t t[8];
    for (int i = 0; i < 8; ++i)
      CHECK(pthread_create(&t[i], nullptr, key_thread, reinterpret_cast<void*>(static_cast<intptr_t>(i))) == 0,
            "pthread_create");
    for (int i = 0; i < 8; ++i) CHECK(pthread_join(t[i], nullptr) == 0, "pthread_join");
    total += drain(true);
  }
  CHECK(g_key_dtor_runs.load() == 4 * 8 * g_key_calls, "key destructor ran %d times, expected %d", g_key_dtor_runs.load(),
        4 * 8 * g_key_calls);
  return total;
}

}  // namespace

// thread_exit [all | keyN]
//   all  -- A, B (each key destructor runs twice: once after the library's exit destructor,
//           once more after its second run), C, D
//   keyN -- B only, each key destructor running N times (3 or 4: glibc's
//           PTHREAD_DESTRUCTOR_ITERATIONS is 4), allocating every time
int main(int argc, char** argv) {
  g_tier_of = tm_tier_of_sym();
  CHECK(pthread_key_create(&g_key, key_dtor) == 0, "pthread_key_create");
  if (argc > 1 && strncmp(argv[1], "key", 3) == 0) {
    g_key_calls = atoi(argv[1] + 3);
    CHECK(g_key_calls >= 1 && g_key_calls <= 4, "usage: thread_exit key1..key4");
    int total = run_key_threads();
    printf("thread_exit %s: %d blocks handed over, %d key-destructor runs: PASS\n", argv[1], total, g_key_dtor_runs.load());
    return 0;
  }
  CHECK(argc == 1 || strcmp(argv[1], "all") == 0, "usage: thread_exit [all|key1..key4]");
  int total = 0;
  // A
  for (int round = 0; round < 8; ++round) {
    pthread_t t[16];
    for (int i = 0; i < 16; ++i)
      CHECK(pthread_create(&t[i], nullptr, short_lived, reinterpret_cast<void*>(static_cast<intptr_t>(round * 16 + i))) == 0,
            "pthread_create");
    for (int i = 0; i < 16; ++i) CHECK(pthread_join(t[i], nullptr) == 0, "pthread_join");
    total += drain(round % 2 == 0);
  }
  pthread_attr_t det;
  pthread_attr_init(&det);
  pthread_attr_setdetachstate(&det, PTHREAD_CREATE_DETACHED);
  for (int i = 0; i < 32; ++i) {
    pthread_t t;
    CHECK(pthread_create(&t, &det, short_lived_detached, reinterpret_cast<void*>(static_cast<intptr_t>(i))) == 0,
          "pthread_create (detached)");
  }
  for (int wait = 0; wait < 5000 && g_detached_done.load() < 32; ++wait) usleep(1000);
  CHECK(g_detached_done.load() == 32, "only %d of 32 detached threads finished", g_detached_done.load());
  usleep(20000);  // let them get through their exit
  total += drain(true);

  // B
  total += run_key_threads();

  // C
  for (int round = 0; round < 4; ++round) {
    std::vector<std::thread> ts;
    for (int i = 0; i < 8; ++i) ts.emplace_back(tls_thread, round * 8 + i);
    for (auto& t : ts) t.join();
    total += drain(true);
  }
  CHECK(g_tls_dtor_runs.load() == 32, "thread_local destructor ran %d times, expected 32", g_tls_dtor_runs.load());

  // D
  for (int round = 0; round < 4; ++round) {
    std::vector<Block> blocks[4];
    for (int k = 0; k < 4; ++k)
      for (int i = 0; i < 50; ++i) {
        size_t n = size_for(i + k);
        void* p = malloc(n);
        CHECK(p != nullptr, "malloc");
        tm_fill(p, n, static_cast<uint32_t>(i));
        blocks[k].push_back(Block{p, n, static_cast<uint32_t>(i), "main"});
      }
    pthread_t t[4];
    for (int k = 0; k < 4; ++k) CHECK(pthread_create(&t[k], nullptr, free_only, &blocks[k]) == 0, "pthread_create");
    for (int k = 0; k < 4; ++k) CHECK(pthread_join(t[k], nullptr) == 0, "pthread_join");
  }

  printf("thread_exit: %d blocks handed over by exited threads, %d key-destructor and %d thread_local-destructor runs: PASS\n",
         total, g_key_dtor_runs.load(), g_tls_dtor_runs.load());
  return 0;
}
