// SPDX-License-Identifier: MIT
// glibc_semantics: observable results of the allocation family's edge cases, one per line,
// as booleans and errno names -- never addresses or usable sizes, which differ between
// allocators.  compare_outputs.sh runs it with and without the library; the outputs must
// be identical (glibc 2.36 is the reference).
#include <malloc.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>

#include "tm_check.h"

namespace {

const char* errname(int e) {
  switch (e) {
    case 0: return "0";
    case ENOMEM: return "ENOMEM";
    case EINVAL: return "EINVAL";
    case EDOM: return "EDOM";
    default: return "other";
  }
}

void line(const char* what, bool v) { printf("%-58s %s\n", what, v ? "yes" : "no"); }
void line_err(const char* what, int e) { printf("%-58s %s\n", what, errname(e)); }

// Result of an allocation that should fail: "NULL ENOMEM" etc.
void failed(const char* what, void* p, int e) {
  printf("%-58s %s %s\n", what, p ? "non-NULL" : "NULL", p ? "-" : errname(e));
  if (p) free(p);
}

int g_handler_calls;
void handler_twice() {
  if (++g_handler_calls >= 2) std::set_new_handler(nullptr);
}
void handler_throws() {
  ++g_handler_calls;
  throw std::bad_alloc();
}

volatile size_t g_huge = SIZE_MAX;  // volatile: no compile-time folding of the checks below
const size_t kPage = 4096;

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) CHECK(freopen(argv[1], "w", stdout) != nullptr, "cannot write %s", argv[1]);
  void* p;
  void* q;
  int rc;
  const size_t huge = g_huge;
  const size_t half = huge / 2 + 1;  // 2^63

  // malloc
  p = malloc(0);
  q = malloc(0);
  line("malloc(0) non-NULL", p != nullptr);
  line("malloc(0) twice: distinct pointers", p && q && p != q);
  free(p);
  free(q);
  errno = 0; p = malloc(huge); failed("malloc(SIZE_MAX)", p, errno);
  errno = 0; p = malloc(huge - 4096); failed("malloc(SIZE_MAX-4096)", p, errno);
  errno = 0; p = malloc(size_t{PTRDIFF_MAX} + 1); failed("malloc(PTRDIFF_MAX+1)", p, errno);
  errno = 0; p = malloc(size_t{1} << 50); failed("malloc(1 PiB)", p, errno);
  errno = EDOM;
  p = malloc(100);
  line_err("errno after a successful malloc(100) (was EDOM)", errno);
  free(p);
  line("malloc_usable_size(NULL) == 0", malloc_usable_size(nullptr) == 0);
  errno = EDOM;
  free(nullptr);
  line_err("free(NULL): errno (was EDOM)", errno);

  // calloc
  p = calloc(0, 0); line("calloc(0, 0) non-NULL", p != nullptr); free(p);
  p = calloc(0, 16); line("calloc(0, 16) non-NULL", p != nullptr); free(p);
  errno = 0; p = calloc(huge / 2, 3); failed("calloc(SIZE_MAX/2, 3) overflow", p, errno);
  errno = 0; p = calloc(size_t{1} << 32, size_t{1} << 32); failed("calloc(2^32, 2^32) overflow", p, errno);
  errno = 0; p = calloc(1, huge); failed("calloc(1, SIZE_MAX)", p, errno);
  {
    bool zero = true;
    for (int round = 0; round < 8; ++round) {
      unsigned char* d = static_cast<unsigned char*>(malloc(5000));
      memset(d, 0xa5, 5000);
      tm_escape(d);
      free(d);
      unsigned char* z = static_cast<unsigned char*>(calloc(1, 5000));
      for (int i = 0; i < 5000; ++i) zero = zero && z[i] == 0;
      free(z);
    }
    line("calloc after a dirty free: zeroed", zero);
    unsigned char* z = static_cast<unsigned char*>(calloc(3 << 20, 1));
    bool zb = z != nullptr;
    for (size_t i = 0; zb && i < (3u << 20); i += 509) zb = z[i] == 0;
    line("calloc(3 MiB) zeroed", zb);
    free(z);
  }

  // realloc
  p = realloc(nullptr, 100); line("realloc(NULL, 100) non-NULL", p != nullptr); free(p);
  p = realloc(nullptr, 0); line("realloc(NULL, 0) non-NULL", p != nullptr); free(p);
  p = malloc(100);
  errno = 0;
  q = realloc(p, 0);
  line("realloc(p, 0) returns NULL", q == nullptr);
  line_err("realloc(p, 0): errno", errno);
  free(q);
  p = malloc(100);
  memset(p, 0x5a, 100);
  errno = 0;
  q = realloc(p, huge);
  failed("realloc(p, SIZE_MAX)", q, errno);
  {
    bool kept = true;
    for (int i = 0; i < 100; ++i) kept = kept && static_cast<unsigned char*>(p)[i] == 0x5a;
    line("realloc(p, SIZE_MAX): p still valid and intact", kept);
  }
  q = realloc(p, 200000);
  {
    bool kept = q != nullptr;
    for (int i = 0; kept && i < 100; ++i) kept = static_cast<unsigned char*>(q)[i] == 0x5a;
    line("realloc(p, 200000): contents kept", kept);
  }
  free(q);

  // reallocarray
  errno = 0; p = reallocarray(nullptr, huge / 2, 3); failed("reallocarray(NULL, SIZE_MAX/2, 3)", p, errno);
  p = reallocarray(nullptr, 10, 10); line("reallocarray(NULL, 10, 10) non-NULL", p != nullptr);
  memset(p, 0x77, 100);
  errno = 0;
  q = reallocarray(p, size_t{1} << 33, size_t{1} << 33);
  failed("reallocarray(p, 2^33, 2^33) overflow", q, errno);
  {
    bool kept = true;
    for (int i = 0; i < 100; ++i) kept = kept && static_cast<unsigned char*>(p)[i] == 0x77;
    line("reallocarray overflow: p still valid and intact", kept);
  }
  q = reallocarray(p, 0, 10);
  line("reallocarray(p, 0, 10) returns NULL", q == nullptr);

  // posix_memalign
  const size_t bad_aligns[] = {0, 1, 2, 3, 4, 12, 24, 48, 100, 4097};
  for (size_t a : bad_aligns) {
    char what[64];
    snprintf(what, sizeof what, "posix_memalign(align %zu)", a);
    p = reinterpret_cast<void*>(0x1234);
    errno = EDOM;
    rc = posix_memalign(&p, a, 16);
    printf("%-58s rc=%s out-unchanged=%s errno=%s\n", what, errname(rc), p == reinterpret_cast<void*>(0x1234) ? "yes" : "no",
           errname(errno));
    if (rc == 0) free(p);
  }
  const size_t good_aligns[] = {8, 16, 32, 64, 4096, 65536, size_t{1} << 21};
  for (size_t a : good_aligns) {
    char what[64];
    snprintf(what, sizeof what, "posix_memalign(align %zu, 100)", a);
    p = nullptr;
    rc = posix_memalign(&p, a, 100);
    printf("%-58s rc=%s aligned=%s\n", what, errname(rc), p && tm_aligned(p, a) ? "yes" : "no");
    if (rc == 0) free(p);
  }
  p = nullptr;
  rc = posix_memalign(&p, 64, 0);
  printf("%-58s rc=%s non-NULL=%s\n", "posix_memalign(64, 0)", errname(rc), p ? "yes" : "no");
  free(p);
  p = reinterpret_cast<void*>(0x1234);
  rc = posix_memalign(&p, 64, huge - 100);
  printf("%-58s rc=%s out-unchanged=%s\n", "posix_memalign(64, SIZE_MAX-100)", errname(rc),
         p == reinterpret_cast<void*>(0x1234) ? "yes" : "no");
  p = reinterpret_cast<void*>(0x1234);
  rc = posix_memalign(&p, half, 16);
  printf("%-58s rc=%s out-unchanged=%s\n", "posix_memalign(2^63, 16)", errname(rc),
         p == reinterpret_cast<void*>(0x1234) ? "yes" : "no");

  // aligned_alloc and memalign: glibc 2.36 rounds a non-power-of-two alignment up
  struct {
    const char* name;
    void* (*fn)(size_t, size_t);
  } const al_fns[] = {{"aligned_alloc", aligned_alloc}, {"memalign", memalign}};
  for (const auto& f : al_fns) {
    const size_t aligns[] = {0, 1, 3, 8, 24, 48, 100, 4096, 5000};
    for (size_t a : aligns) {
      char what[64];
      snprintf(what, sizeof what, "%s(align %zu, 100)", f.name, a);
      size_t want = 1;
      while (want < a) want <<= 1;
      errno = 0;
      p = f.fn(a, 100);
      printf("%-58s %s aligned-to-next-pow2=%s errno=%s\n", what, p ? "non-NULL" : "NULL",
             p && tm_aligned(p, want) ? "yes" : "no", errname(errno));
      free(p);
    }
    char what[64];
    snprintf(what, sizeof what, "%s(SIZE_MAX/2+2, 10)", f.name);
    errno = 0; p = f.fn(half + 1, 10); failed(what, p, errno);
    snprintf(what, sizeof what, "%s(SIZE_MAX, 10)", f.name);
    errno = 0; p = f.fn(huge, 10); failed(what, p, errno);
    snprintf(what, sizeof what, "%s(2^63, 10)", f.name);
    errno = 0; p = f.fn(half, 10); failed(what, p, errno);
    snprintf(what, sizeof what, "%s(64, SIZE_MAX)", f.name);
    errno = 0; p = f.fn(64, huge); failed(what, p, errno);
    snprintf(what, sizeof what, "%s(64, 0)", f.name);
    p = f.fn(64, 0); line(what, p != nullptr); free(p);
  }

  // valloc and pvalloc
  const size_t vsizes[] = {0, 1, 100, 4096, 5000, 3 << 20};
  for (size_t n : vsizes) {
    char what[64];
    p = valloc(n);
    snprintf(what, sizeof what, "valloc(%zu) non-NULL page-aligned", n);
    line(what, p && tm_aligned(p, kPage));
    free(p);
    p = pvalloc(n);
    snprintf(what, sizeof what, "pvalloc(%zu) non-NULL page-aligned whole pages", n);
    size_t want = n ? (n + kPage - 1) / kPage * kPage : kPage;
    bool ok = p && tm_aligned(p, kPage) && (n == 0 || malloc_usable_size(p) >= want);
    if (ok) memset(p, 1, n ? want : 1);
    line(what, ok);
    free(p);
  }
  errno = 0; p = valloc(huge); failed("valloc(SIZE_MAX)", p, errno);
  errno = 0; p = pvalloc(huge); failed("pvalloc(SIZE_MAX)", p, errno);
  errno = 0; p = pvalloc(huge - 2 * kPage); failed("pvalloc(SIZE_MAX-2*page)", p, errno);

  // operator new.  (Aligned forms use SIZE_MAX/2: libstdc++ 12's own aligned new rounds the
  // size up to the alignment, wraps to 0 near SIZE_MAX and returns a block -- a reference bug.)
  const char* outcome;
  try {
    p = ::operator new(huge);
    tm_escape(p);
    outcome = "returned";
  } catch (const std::bad_alloc&) {
    outcome = "bad_alloc";
  }
  printf("%-58s %s\n", "operator new(SIZE_MAX)", outcome);
  try {
    p = ::operator new[](huge - 64);
    tm_escape(p);
    outcome = "returned";
  } catch (const std::bad_alloc&) {
    outcome = "bad_alloc";
  }
  printf("%-58s %s\n", "operator new[](SIZE_MAX-64)", outcome);
  try {
    p = ::operator new(huge / 2, std::align_val_t{64});
    tm_escape(p);
    outcome = "returned";
  } catch (const std::bad_alloc&) {
    outcome = "bad_alloc";
  }
  printf("%-58s %s\n", "operator new(SIZE_MAX/2, align 64)", outcome);
  try {
    p = ::operator new[](huge / 2, std::align_val_t{4096});
    tm_escape(p);
    outcome = "returned";
  } catch (const std::bad_alloc&) {
    outcome = "bad_alloc";
  }
  printf("%-58s %s\n", "operator new[](SIZE_MAX/2, align 4096)", outcome);
  p = ::operator new(huge, std::nothrow);
  line("operator new(SIZE_MAX, nothrow) == nullptr", p == nullptr);
  p = ::operator new[](huge, std::nothrow);
  line("operator new[](SIZE_MAX, nothrow) == nullptr", p == nullptr);
  p = ::operator new(huge / 2, std::align_val_t{256}, std::nothrow);
  line("operator new(SIZE_MAX/2, align 256, nothrow) == nullptr", p == nullptr);
  p = ::operator new[](huge / 2, std::align_val_t{256}, std::nothrow);
  line("operator new[](SIZE_MAX/2, align 256, nothrow) == nullptr", p == nullptr);
  p = ::operator new(0);
  q = ::operator new(0);
  line("operator new(0) twice: distinct, non-NULL", p && q && p != q);
  ::operator delete(p);
  ::operator delete(q);
  p = ::operator new(100, std::align_val_t{1024});
  line("operator new(100, align 1024) aligned", tm_aligned(p, 1024));
  ::operator delete(p, std::align_val_t{1024});

  // new_handler: called (here twice) before bad_alloc is thrown
  struct {
    const char* name;
    int kind;
  } const nh[] = {{"new", 0}, {"new[]", 1}, {"new(SIZE_MAX/2, align 64)", 2}, {"new(nothrow)", 3}, {"new(SIZE_MAX/2, align 64, nothrow)", 4}};
  for (const auto& c : nh) {
    g_handler_calls = 0;
    std::set_new_handler(handler_twice);
    try {
      switch (c.kind) {
        case 0: p = ::operator new(huge); break;
        case 1: p = ::operator new[](huge); break;
        case 2: p = ::operator new(huge / 2, std::align_val_t{64}); break;
        case 3: p = ::operator new(huge, std::nothrow); break;
        case 4: p = ::operator new(huge / 2, std::align_val_t{64}, std::nothrow); break;
      }
      tm_escape(p);
      outcome = p ? "returned" : "nullptr";
    } catch (const std::bad_alloc&) {
      outcome = "bad_alloc";
    }
    printf("%-58s %s after %d handler calls; handler now %s\n", c.name, outcome, g_handler_calls,
           std::get_new_handler() ? "set" : "cleared");
    std::set_new_handler(nullptr);
  }
  // a handler that throws: new propagates it, nothrow new turns it into nullptr
  g_handler_calls = 0;
  std::set_new_handler(handler_throws);
  try {
    p = ::operator new(huge);
    tm_escape(p);
    outcome = "returned";
  } catch (const std::bad_alloc&) {
    outcome = "bad_alloc";
  }
  printf("%-58s %s after %d handler calls\n", "new with a throwing handler", outcome, g_handler_calls);
  g_handler_calls = 0;
  p = ::operator new(huge, std::nothrow);
  printf("%-58s %s after %d handler calls\n", "new(nothrow) with a throwing handler", p ? "returned" : "nullptr",
         g_handler_calls);
  std::set_new_handler(nullptr);
  fflush(stdout);
  return 0;
}
