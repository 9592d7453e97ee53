// SPDX-License-Identifier: MIT
// first_operation: every entry point as the very first thing a fresh thread does.
//
// A new thread has an empty call-site cache and no heaps, so its first call of any entry
// point goes down the slow path (thread attach, heap creation); a free/delete/realloc of a
// block from another thread as a first operation must work too.  Each (entry point, size)
// gets its own thread; a second round starts all threads of a size at once behind a barrier
// (pthread_barrier_wait does not allocate) so that first calls race each other.
#include <malloc.h>
#include <pthread.h>
#include <sys/mman.h>

#include <cerrno>
#include <new>
#include <vector>

#include "tm_check.h"

namespace {

using malloc_fn = void* (*)(size_t);
using calloc_fn = void* (*)(size_t, size_t);
using realloc_fn = void* (*)(void*, size_t);
using free_fn = void (*)(void*);
using memalign_fn = void* (*)(size_t, size_t);
using pm_fn = int (*)(void**, size_t, size_t);

tm_tier_of_fn g_tier_of;
size_t g_page;
free_fn p_cfree, p_libc_free;
malloc_fn p_libc_malloc, p_libc_valloc, p_libc_pvalloc;
calloc_fn p_libc_calloc;
realloc_fn p_libc_realloc;
memalign_fn p_libc_memalign;
pm_fn p_posix_memalign2;

constexpr size_t kInSize = 1000;  // size of the block handed in by the main thread
constexpr size_t kAlignNew = 256;

struct Job {
  const char* name;
  size_t n;       // requested size
  void* in;       // block (or mapping) prepared by the main thread, for free/realloc/...
  int kind;       // how `in` was made: see prepare()
  pthread_barrier_t* barrier;
  void (*run)(Job&);
};

// in-kinds
enum { kInNone, kInMalloc, kInNew, kInNewArr, kInNewAl, kInNewArrAl, kInMmap };

void check_block(const Job& j, void* p, size_t n, size_t align, bool zeroed, bool heap = true) {
  CHECK(p != nullptr, "%s(%zu) returned NULL", j.name, n);
  CHECK(tm_aligned(p, align), "%s(%zu) = %p is not %zu-aligned", j.name, n, p, align);
  if (zeroed)
    for (size_t i = 0; i < n; ++i) CHECK(static_cast<unsigned char*>(p)[i] == 0, "%s(%zu): byte %zu not zero", j.name, n, i);
  if (heap) {
    size_t u = malloc_usable_size(p);
    CHECK(u >= n, "%s(%zu): malloc_usable_size = %zu", j.name, n, u);
    if (g_tier_of) CHECK(g_tier_of(p) >= 0, "%s(%zu) = %p: tiermalloc_tier_of = %d", j.name, n, p, g_tier_of(p));
  }
  tm_fill(p, n, static_cast<uint32_t>(n + 17));
  tm_escape(p);
  size_t bad = tm_verify(p, n, static_cast<uint32_t>(n + 17));
  CHECK(bad == static_cast<size_t>(-1), "%s(%zu): pattern lost at byte %zu", j.name, n, bad);
}

// After a free-like first operation: the thread must still allocate normally.
void after_free(const Job& j) {
  void* q = malloc(j.n + 1);
  check_block(j, q, j.n + 1, 16, false);
  free(q);
}

void check_in_prefix(const Job& j, void* p, size_t n) {
  size_t keep = n < kInSize ? n : kInSize;
  size_t bad = tm_verify(p, keep, 99);
  CHECK(bad == static_cast<size_t>(-1), "%s(in, %zu): old contents lost at byte %zu", j.name, n, bad);
}

size_t page_round(size_t n) { return (n + g_page - 1) & ~(g_page - 1); }

#define CASE(NAME, IN, ...) \
  { NAME, IN, [](Job& j) { __VA_ARGS__; } }

struct Case {
  const char* name;
  int in;
  void (*run)(Job&);
};

const Case kCases[] = {
    // ---- the C family ----
    CASE("malloc", kInNone, void* p = malloc(j.n); check_block(j, p, j.n, 16, false); free(p)),
    CASE("calloc", kInNone, void* p = calloc(j.n, 1); check_block(j, p, j.n, 16, true); free(p)),
    CASE("calloc(n/8,8)", kInNone, void* p = calloc(j.n / 8 + 1, 8); check_block(j, p, (j.n / 8 + 1) * 8, 16, true); free(p)),
    CASE("realloc(NULL)", kInNone, void* p = realloc(nullptr, j.n); check_block(j, p, j.n, 16, false); free(p)),
    CASE("realloc(in)", kInMalloc, void* p = realloc(j.in, j.n ? j.n : 1); CHECK(p, "realloc NULL");
         check_in_prefix(j, p, j.n ? j.n : 1); check_block(j, p, j.n ? j.n : 1, 16, false); free(p)),
    CASE("realloc(in,0)", kInMalloc, errno = 0; void* p = realloc(j.in, 0);
         CHECK(p == nullptr, "realloc(p, 0) returned %p, glibc returns NULL", p); after_free(j)),
    CASE("reallocarray(NULL)", kInNone, void* p = reallocarray(nullptr, j.n, 1); check_block(j, p, j.n, 16, false); free(p)),
    CASE("reallocarray(in)", kInMalloc, void* p = reallocarray(j.in, j.n / 4 + 1, 4); CHECK(p, "reallocarray NULL");
         check_in_prefix(j, p, j.n / 4 * 4 + 4); check_block(j, p, j.n / 4 * 4 + 4, 16, false); free(p)),
    CASE("free(in)", kInMalloc, free(j.in); after_free(j)),
    CASE("free(NULL)", kInNone, free(nullptr); after_free(j)),
    CASE("cfree(in)", kInMalloc, if (p_cfree) p_cfree(j.in); else free(j.in); after_free(j)),
    CASE("posix_memalign", kInNone, void* p = nullptr; int rc = posix_memalign(&p, 64, j.n);
         CHECK(rc == 0, "posix_memalign returned %d", rc); check_block(j, p, j.n, 64, false); free(p)),
    CASE("posix_memalign(4096)", kInNone, void* p = nullptr; int rc = posix_memalign(&p, 4096, j.n);
         CHECK(rc == 0, "posix_memalign returned %d", rc); check_block(j, p, j.n, 4096, false); free(p)),
    CASE("aligned_alloc", kInNone, void* p = aligned_alloc(128, j.n); check_block(j, p, j.n, 128, false); free(p)),
    CASE("memalign", kInNone, void* p = memalign(256, j.n); check_block(j, p, j.n, 256, false); free(p)),
    CASE("valloc", kInNone, void* p = valloc(j.n); check_block(j, p, j.n, g_page, false); free(p)),
    CASE("pvalloc", kInNone, void* p = pvalloc(j.n); check_block(j, p, page_round(j.n), g_page, false); free(p)),
    CASE("malloc_usable_size(in)", kInMalloc, size_t u = malloc_usable_size(j.in);
         CHECK(u >= kInSize, "malloc_usable_size = %zu < %zu", u, kInSize); free(j.in)),
    CASE("malloc_usable_size(NULL)", kInNone, size_t u = malloc_usable_size(nullptr);
         CHECK(u == 0, "malloc_usable_size(NULL) = %zu", u); after_free(j)),
    // ---- glibc's internal names ----
    CASE("__libc_malloc", kInNone, void* p = p_libc_malloc(j.n); check_block(j, p, j.n, 16, false); p_libc_free(p)),
    CASE("__libc_calloc", kInNone, void* p = p_libc_calloc(1, j.n); check_block(j, p, j.n, 16, true); p_libc_free(p)),
    CASE("__libc_realloc(NULL)", kInNone, void* p = p_libc_realloc(nullptr, j.n); check_block(j, p, j.n, 16, false); free(p)),
    CASE("__libc_realloc(in)", kInMalloc, void* p = p_libc_realloc(j.in, j.n + 1); CHECK(p, "NULL");
         check_in_prefix(j, p, j.n + 1); check_block(j, p, j.n + 1, 16, false); free(p)),
    CASE("__libc_free(in)", kInMalloc, p_libc_free(j.in); after_free(j)),
    CASE("__libc_memalign", kInNone, void* p = p_libc_memalign(512, j.n); check_block(j, p, j.n, 512, false); free(p)),
    CASE("__libc_valloc", kInNone, void* p = p_libc_valloc(j.n); check_block(j, p, j.n, g_page, false); free(p)),
    CASE("__libc_pvalloc", kInNone, void* p = p_libc_pvalloc(j.n); check_block(j, p, page_round(j.n), g_page, false); free(p)),
    CASE("__posix_memalign", kInNone, void* p = nullptr; int rc = p_posix_memalign2(&p, 32, j.n);
         CHECK(rc == 0, "__posix_memalign returned %d", rc); check_block(j, p, j.n, 32, false); free(p)),
    // ---- anonymous mappings ----
    CASE("mmap", kInNone, size_t n = j.n ? j.n : 1;
         void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
         CHECK(p != MAP_FAILED, "mmap failed: errno %d", errno); check_block(j, p, n, g_page, true, false);
         CHECK(munmap(p, n) == 0, "munmap failed: errno %d", errno)),
    CASE("mmap64", kInNone, size_t n = j.n ? j.n : 1;
         void* p = mmap64(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
         CHECK(p != MAP_FAILED, "mmap64 failed: errno %d", errno); check_block(j, p, n, g_page, true, false);
         CHECK(munmap(p, n) == 0, "munmap failed: errno %d", errno)),
    CASE("munmap(in)", kInMmap, CHECK(munmap(j.in, kInSize) == 0, "munmap failed: errno %d", errno); after_free(j)),
    CASE("mremap(in)", kInMmap, size_t n = j.n > kInSize ? j.n : kInSize + g_page;
         void* p = mremap(j.in, kInSize, n, MREMAP_MAYMOVE);
         CHECK(p != MAP_FAILED, "mremap failed: errno %d", errno); check_in_prefix(j, p, n);
         check_block(j, p, n, g_page, false, false); CHECK(munmap(p, n) == 0, "munmap failed: errno %d", errno)),
    // ---- operator new ----
    CASE("new", kInNone, void* p = ::operator new(j.n); check_block(j, p, j.n, 16, false); ::operator delete(p)),
    CASE("new[]", kInNone, void* p = ::operator new[](j.n); check_block(j, p, j.n, 16, false); ::operator delete[](p)),
    CASE("new(nothrow)", kInNone, void* p = ::operator new(j.n, std::nothrow); check_block(j, p, j.n, 16, false);
         ::operator delete(p, std::nothrow)),
    CASE("new[](nothrow)", kInNone, void* p = ::operator new[](j.n, std::nothrow); check_block(j, p, j.n, 16, false);
         ::operator delete[](p, std::nothrow)),
    CASE("new(align)", kInNone, void* p = ::operator new(j.n, std::align_val_t{kAlignNew});
         check_block(j, p, j.n, kAlignNew, false); ::operator delete(p, std::align_val_t{kAlignNew})),
    CASE("new[](align)", kInNone, void* p = ::operator new[](j.n, std::align_val_t{kAlignNew});
         check_block(j, p, j.n, kAlignNew, false); ::operator delete[](p, std::align_val_t{kAlignNew})),
    CASE("new(align,nothrow)", kInNone, void* p = ::operator new(j.n, std::align_val_t{kAlignNew}, std::nothrow);
         check_block(j, p, j.n, kAlignNew, false); ::operator delete(p, std::align_val_t{kAlignNew}, std::nothrow)),
    CASE("new[](align,nothrow)", kInNone, void* p = ::operator new[](j.n, std::align_val_t{kAlignNew}, std::nothrow);
         check_block(j, p, j.n, kAlignNew, false); ::operator delete[](p, std::align_val_t{kAlignNew}, std::nothrow)),
    // ---- operator delete, first operation on a block from the main thread ----
    CASE("delete", kInNew, ::operator delete(j.in); after_free(j)),
    CASE("delete[]", kInNewArr, ::operator delete[](j.in); after_free(j)),
    CASE("delete(sized)", kInNew, ::operator delete(j.in, kInSize); after_free(j)),
    CASE("delete[](sized)", kInNewArr, ::operator delete[](j.in, kInSize); after_free(j)),
    CASE("delete(nothrow)", kInNew, ::operator delete(j.in, std::nothrow); after_free(j)),
    CASE("delete[](nothrow)", kInNewArr, ::operator delete[](j.in, std::nothrow); after_free(j)),
    CASE("delete(align)", kInNewAl, ::operator delete(j.in, std::align_val_t{kAlignNew}); after_free(j)),
    CASE("delete[](align)", kInNewArrAl, ::operator delete[](j.in, std::align_val_t{kAlignNew}); after_free(j)),
    CASE("delete(sized,align)", kInNewAl, ::operator delete(j.in, kInSize, std::align_val_t{kAlignNew}); after_free(j)),
    CASE("delete[](sized,align)", kInNewArrAl, ::operator delete[](j.in, kInSize, std::align_val_t{kAlignNew}); after_free(j)),
    CASE("delete(align,nothrow)", kInNewAl, ::operator delete(j.in, std::align_val_t{kAlignNew}, std::nothrow); after_free(j)),
    CASE("delete[](align,nothrow)", kInNewArrAl, ::operator delete[](j.in, std::align_val_t{kAlignNew}, std::nothrow);
         after_free(j)),
};

void* prepare(int kind) {
  void* p = nullptr;
  switch (kind) {
    case kInNone: return nullptr;
    case kInMalloc: p = malloc(kInSize); break;
    case kInNew: p = ::operator new(kInSize); break;
    case kInNewArr: p = ::operator new[](kInSize); break;
    case kInNewAl: p = ::operator new(kInSize, std::align_val_t{kAlignNew}); break;
    case kInNewArrAl: p = ::operator new[](kInSize, std::align_val_t{kAlignNew}); break;
    case kInMmap:
      p = mmap(nullptr, kInSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      CHECK(p != MAP_FAILED, "mmap failed: errno %d", errno);
      break;
  }
  CHECK(p != nullptr, "main thread: allocation of kind %d failed", kind);
  tm_fill(p, kInSize, 99);
  return p;
}

void* trampoline(void* arg) {
  Job& j = *static_cast<Job*>(arg);
  if (j.barrier) pthread_barrier_wait(j.barrier);
  j.run(j);
  return nullptr;
}

template <class T>
T sym(const char* name, bool required) {
  void* s = dlsym(RTLD_DEFAULT, name);
  CHECK(s || !required, "dlsym(%s) failed under the preload library", name);
  return reinterpret_cast<T>(s);
}

}  // namespace

int main() {
  g_tier_of = tm_tier_of_sym();
  g_page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  bool preloaded = g_tier_of != nullptr;
  // glibc 2.36 keeps cfree only as a compat symbol and has no __posix_memalign: without
  // the library they may be missing, with it they must all resolve.
  p_cfree = sym<free_fn>("cfree", preloaded);
  p_libc_malloc = sym<malloc_fn>("__libc_malloc", true);
  p_libc_calloc = sym<calloc_fn>("__libc_calloc", true);
  p_libc_realloc = sym<realloc_fn>("__libc_realloc", true);
  p_libc_free = sym<free_fn>("__libc_free", true);
  p_libc_memalign = sym<memalign_fn>("__libc_memalign", true);
  p_libc_valloc = sym<malloc_fn>("__libc_valloc", true);
  p_libc_pvalloc = sym<malloc_fn>("__libc_pvalloc", true);
  p_posix_memalign2 = sym<pm_fn>("__posix_memalign", preloaded);
  if (!p_posix_memalign2) p_posix_memalign2 = posix_memalign;

  const size_t sizes[] = {0, 24, 5000, size_t{3} << 20};
  const int ncases = static_cast<int>(sizeof kCases / sizeof kCases[0]);
  int threads = 0;

  // Round 1: one thread at a time.
  for (size_t n : sizes)
    for (const Case& c : kCases) {
      Job j{c.name, n, prepare(c.in), c.in, nullptr, c.run};
      pthread_t t;
      CHECK(pthread_create(&t, nullptr, trampoline, &j) == 0, "pthread_create for %s", c.name);
      CHECK(pthread_join(t, nullptr) == 0, "pthread_join for %s", c.name);
      ++threads;
    }

  // Round 2: all cases of a size at once.
  for (size_t n : sizes) {
    std::vector<Job> jobs;
    jobs.reserve(ncases);
    pthread_barrier_t b;
    pthread_barrier_init(&b, nullptr, static_cast<unsigned>(ncases));
    for (const Case& c : kCases) jobs.push_back(Job{c.name, n, prepare(c.in), c.in, &b, c.run});
    std::vector<pthread_t> ts(ncases);
    for (int i = 0; i < ncases; ++i)
      CHECK(pthread_create(&ts[i], nullptr, trampoline, &jobs[i]) == 0, "pthread_create for %s", jobs[i].name);
    for (int i = 0; i < ncases; ++i) CHECK(pthread_join(ts[i], nullptr) == 0, "pthread_join");
    pthread_barrier_destroy(&b);
    threads += ncases;
  }
  printf("first_operation: %d entry points x %zu sizes, %d threads, tier check %s: PASS\n", ncases,
         sizeof sizes / sizeof sizes[0], threads, preloaded ? "on" : "off (not preloaded)");
  return 0;
}
