// SPDX-License-Identifier: MIT
// atexit: allocation and free after main has returned.
//
// Order at exit (glibc 2.36): atexit handlers registered in main (last first, including one
// registered from inside another handler), then the global object's destructor (registered
// when it was constructed, before main), then the program's __attribute__((destructor))
// functions (from _dl_fini), then the library's own destructor (statistics).  Each stage
// checks and frees blocks allocated earlier -- during main, by a thread, by the previous
// stage -- allocates new ones, and records itself; the last stage checks that every stage
// ran and prints the marker.  The runner checks the exit status and that the marker is
// the last line.
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <vector>

#include "tm_check.h"

namespace {

tm_tier_of_fn g_tier_of;

struct Block {
  void* p = nullptr;
  size_t n = 0;
  uint32_t seed = 0;
};

Block make(size_t n, uint32_t seed) {
  Block b{malloc(n), n, seed};
  CHECK(b.p != nullptr, "malloc(%zu) failed", n);
  if (g_tier_of) CHECK(g_tier_of(b.p) >= 0, "block of %zu bytes not in a tier", n);
  tm_fill(b.p, n, seed);
  return b;
}

void check_free(Block& b, const char* stage) {
  CHECK(b.p != nullptr, "%s: block missing", stage);
  size_t bad = tm_verify(b.p, b.n, b.seed);
  CHECK(bad == static_cast<size_t>(-1), "%s: block of %zu bytes corrupt at byte %zu", stage, b.n, bad);
  free(b.p);
  b.p = nullptr;
}

// Blocks passed from stage to stage.
Block g_from_main_small, g_from_main_large, g_from_main_for_dtor, g_from_thread;
Block g_from_handler1, g_from_handler2, g_from_global_dtor;
std::string* g_string_from_main;
std::vector<int>* g_vector_from_main;
std::atomic<unsigned> g_stages{0};

enum : unsigned {
  kHandlerLate = 1,     // registered from inside handler 1: runs right after it
  kHandler1 = 2,
  kHandler2 = 4,
  kGlobalDtor = 8,
  kGlobalCtor = 16,
};

void note(const char* s) {  // progress lines, unbuffered
  ssize_t w = write(1, s, strlen(s));
  (void)w;
}

// Runs after handler 1 (it is registered while the handlers run; glibc runs it next).
void handler_late() {
  CHECK(g_stages.load() & kHandler1, "late handler before handler 1");
  check_free(g_from_handler1, "late atexit handler");
  Block b = make(1 << 20, 55);
  check_free(b, "late atexit handler");
  g_stages.fetch_or(kHandlerLate);
  note("atexit: late handler ok\n");
}

// Registered second: runs first.
void handler2() {
  check_free(g_from_main_small, "atexit handler 2");
  check_free(g_from_thread, "atexit handler 2");
  CHECK(*g_string_from_main == std::string(3000, 'm') + "!", "atexit handler 2: string from main changed");
  delete g_string_from_main;
  g_from_handler2 = make(3 << 20, 22);
  void* tmp = calloc(1000, 100);
  CHECK(tmp != nullptr, "calloc in atexit handler");
  free(tmp);
  g_stages.fetch_or(kHandler2);
  note("atexit: handler 2 ok\n");
}

// Registered first: runs after handler 2.
void handler1() {
  CHECK(g_stages.load() & kHandler2, "handler 1 ran before handler 2");
  check_free(g_from_main_large, "atexit handler 1");
  check_free(g_from_handler2, "atexit handler 1");
  for (int i = 0; i < 5000; ++i) g_vector_from_main->push_back(i);  // realloc of a main-time block
  for (int i = 0; i < 5000; ++i) CHECK((*g_vector_from_main)[static_cast<size_t>(i) + 100] == i, "vector contents");
  delete g_vector_from_main;
  g_from_handler1 = make(777, 11);
  CHECK(atexit(handler_late) == 0, "atexit from inside a handler");
  g_stages.fetch_or(kHandler1);
  note("atexit: handler 1 ok\n");
}

struct Global {
  Block mine;
  std::vector<std::string> names;
  Global() {
    g_tier_of = tm_tier_of_sym();
    mine = make(5000, 77);  // allocated before main
    for (int i = 0; i < 50; ++i) names.push_back(std::string(100, static_cast<char>('a' + i % 26)));
    g_stages.fetch_or(kGlobalCtor);
  }
  ~Global() {
    unsigned want = kHandler1 | kHandler2 | kHandlerLate | kGlobalCtor;
    CHECK((g_stages.load() & want) == want, "global destructor: stages so far 0x%x", g_stages.load());
    check_free(mine, "global destructor");
    check_free(g_from_main_for_dtor, "global destructor");
    for (int i = 0; i < 50; ++i) CHECK(names[static_cast<size_t>(i)][99] == 'a' + i % 26, "global's strings");
    names.clear();
    names.shrink_to_fit();
    g_from_global_dtor = make(2 << 20, 88);
    int* a = new int[100000];
    tm_escape(a);
    delete[] a;
    g_stages.fetch_or(kGlobalDtor);
    note("atexit: global destructor ok\n");
  }
};
Global g_global;

void* thread_body(void*) {
  g_from_thread = make(60000, 33);
  return nullptr;
}

}  // namespace

// The program's destructor function: after the atexit handlers and the global destructor.
__attribute__((destructor)) static void last_stage() {
  unsigned want = kHandler1 | kHandler2 | kHandlerLate | kGlobalCtor | kGlobalDtor;
  CHECK(g_stages.load() == want, "destructor function: stages 0x%x, expected 0x%x", g_stages.load(), want);
  check_free(g_from_global_dtor, "destructor function");
  Block b = make(4 << 20, 99);
  void* r = realloc(b.p, 100);
  CHECK(r != nullptr, "realloc in the destructor function");
  b.p = r;
  b.n = 100;
  check_free(b, "destructor function");
  void* p = nullptr;
  CHECK(posix_memalign(&p, 4096, 10000) == 0, "posix_memalign in the destructor function");
  free(p);
  note("ATEXIT-OK\n");
}

int main() {
  CHECK(g_stages.load() == kGlobalCtor, "global constructor did not run");
  g_from_main_small = make(100, 1);
  g_from_main_large = make(2 << 20, 2);
  g_from_main_for_dtor = make(40000, 3);
  g_string_from_main = new std::string(std::string(3000, 'm') + "!");
  g_vector_from_main = new std::vector<int>(100, -1);
  pthread_t t;
  CHECK(pthread_create(&t, nullptr, thread_body, nullptr) == 0, "pthread_create");
  CHECK(pthread_join(t, nullptr) == 0, "pthread_join");
  CHECK(atexit(handler1) == 0, "atexit");
  CHECK(atexit(handler2) == 0, "atexit");
  note("atexit: main done\n");
  return 0;
}
