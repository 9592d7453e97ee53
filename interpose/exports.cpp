// SPDX-License-Identifier: MIT
// interpose/exports.cpp -- the only file that defines libc's allocation symbols.
//
// Each entry point states glibc's contract (overflow, alignment, errno, malloc(0)), takes
// its caller's return address as the call site, and hands one request to the generic body
// in runtime.hpp.  Because operator new is defined here too, the call site of a `new` is
// the user's frame, not libstdc++'s.
#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstring>
#include <new>

#include "interpose/runtime.hpp"

using namespace tiermalloc;
using namespace tiermalloc::rt;

namespace {

constexpr size_t kMinAlign = 16;  // glibc's MALLOC_ALIGNMENT on x86-64

TM_FAST_PATH void* do_malloc(size_t n, uintptr_t ra, uint32_t api) {
  return allocate<kOpMalloc>(n, ra, api, 0, nullptr);
}

TM_FAST_PATH void* do_calloc(size_t count, size_t size, uintptr_t ra) {
  size_t total;
  if (TM_UNLIKELY(__builtin_mul_overflow(count, size, &total))) {
    errno = ENOMEM;
    return nullptr;
  }
  return allocate<kOpCalloc>(total, ra, kApiCalloc, 0, nullptr);
}

TM_FAST_PATH void* do_realloc(void* p, size_t n, uintptr_t ra) {
  if (!p) return allocate<kOpMalloc>(n, ra, kApiRealloc, 0, nullptr);
  if (n == 0) {  // glibc: realloc(p, 0) frees p and returns NULL
    release(p);
    return nullptr;
  }
  if (TM_UNLIKELY(!owned(p))) return realloc_foreign(p, n, ra);
  return allocate<kOpRealloc>(n, ra, kApiRealloc, 0, p);
}

TM_FAST_PATH void* do_aligned(size_t align, size_t n, uintptr_t ra, uint32_t api) {
  // mimalloc's blocks of 8 bytes and less are only 8-aligned: ask for 16 for those.
  if (align <= kMinAlign) return allocate<kOpMalloc>(n < align ? align : n, ra, api, 0, nullptr);
  // Above mimalloc's 16 MiB limit the slow path maps the block itself.
  if (TM_UNLIKELY(align > (size_t{16} << 20))) return alloc_slow(n, ra, api, kOpAligned, align, nullptr);
  return allocate<kOpAligned>(n, ra, api, align, nullptr);
}

// memalign/aligned_alloc as glibc 2.36: an alignment above SIZE_MAX/2+1 is EINVAL, one that
// is not a power of two is rounded up to the next power of two.
TM_FAST_PATH void* do_memalign(size_t align, size_t n, uintptr_t ra) {
  if (align > SIZE_MAX / 2 + 1) {
    errno = EINVAL;
    return nullptr;
  }
  if (align & (align - 1)) {
    size_t a = kMinAlign * 2;
    while (a < align) a <<= 1;
    align = a;
  }
  return do_aligned(align, n, ra, kApiAligned);
}

TM_FAST_PATH int do_posix_memalign(void** out, size_t align, size_t n, uintptr_t ra) {
  if (align % sizeof(void*) != 0 || (align & (align - 1)) != 0 || align == 0) return EINVAL;
  int saved = errno;
  void* p = do_aligned(align, n, ra, kApiAligned);
  if (!p) {
    errno = saved;
    return ENOMEM;
  }
  *out = p;
  return 0;
}

size_t page_size() {
  static size_t ps = 0;
  if (!ps) ps = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return ps;
}

TM_FAST_PATH void* do_pvalloc(size_t n, uintptr_t ra) {
  size_t ps = page_size();
  if (n > SIZE_MAX - 2 * ps) {
    errno = ENOMEM;
    return nullptr;
  }
  return do_aligned(ps, (n + ps - 1) & ~(ps - 1), ra, kApiAligned);
}

// libstdc++ is linked into this library statically (a C program then maps no libstdc++.so),
// so std::get_new_handler here would read our own copy, never the one the program set with
// std::set_new_handler in its libstdc++.so.  Both are looked up there (ours are local, so
// RTLD_DEFAULT finds the program's), ours only when no libstdc++.so is loaded; a miss is not
// remembered (a C++ library may be dlopened later).  bad_alloc likewise.
using GetNewHandlerFn = std::new_handler (*)();
std::new_handler program_new_handler() {
  static std::atomic<GetNewHandlerFn> fn{nullptr};
  GetNewHandlerFn f = fn.load(std::memory_order_acquire);
  if (!f) {
    f = reinterpret_cast<GetNewHandlerFn>(dlsym(RTLD_DEFAULT, "_ZSt15get_new_handlerv"));
    if (f) fn.store(f, std::memory_order_release);
    else f = &std::get_new_handler;
  }
  return f();
}
// Thrown by the program's runtime, so that its catch (std::bad_alloc&) sees its own type
// (interpose/cxx_throw.cpp).
[[noreturn]] void throw_bad_alloc() { std::__throw_bad_alloc(); }

// A nothrow new whose new-handler is set: the handler may throw, and nothrow new must then
// return NULL.  The catch is not ours: libgcc is linked in statically (CMakeLists.txt), and an
// exception raised by the program's unwinder (libgcc_s) cannot end in a catch of our own
// runtime.  So the request is relayed through the program's own nothrow operator new
// (libstdc++.so's, found past us with RTLD_NEXT), which is `try { return ::operator new(sz); }
// catch (...) { return nullptr; }` -- and ::operator new is ours again.  It is asked for
// SIZE_MAX, which fails at once; its failure path then finds the real request here (size,
// alignment, and the caller's return address, so the call site stays the program's) and
// runs the handler loop for it, throwing bad_alloc when the handler is gone.  Taken before
// the handler runs, so a nothrow new inside the handler relays its own.
struct NothrowRelay {
  size_t n;
  size_t align;
  uintptr_t ra;
  bool active;
};
thread_local NothrowRelay t_relay{};

using NothrowNewFn = void* (*)(size_t, const std::nothrow_t&) noexcept;
NothrowNewFn program_nothrow_new() {
  static std::atomic<NothrowNewFn> fn{nullptr};
  NothrowNewFn f = fn.load(std::memory_order_acquire);
  if (!f) {
    f = reinterpret_cast<NothrowNewFn>(dlsym(RTLD_NEXT, "_ZnwmRKSt9nothrow_t"));
    if (f) fn.store(f, std::memory_order_release);
  }
  return f;
}

TM_SLOW_PATH void* retry_after_handler(size_t n, size_t align, uintptr_t ra) {
  return align > kMinAlign ? allocate<kOpAligned>(n, ra, kApiNew, align, nullptr)
                           : allocate<kOpMalloc>(n < align ? align : n, ra, kApiNew, 0, nullptr);
}

}  // namespace

// operator new: retry through the new-handler, then throw (or return NULL for nothrow).
TM_SLOW_PATH void* tiermalloc::rt::new_failed(size_t n, size_t align, uintptr_t ra, bool nothrow) {
  if (!nothrow && t_relay.active) {  // the relayed request of a nothrow new (above)
    n = t_relay.n;
    align = t_relay.align;
    ra = t_relay.ra;
    t_relay.active = false;
  }
  for (;;) {
    std::new_handler h = program_new_handler();
    if (!h) {
      if (nothrow) return nullptr;
      throw_bad_alloc();
    }
    if (nothrow) {
      if (NothrowNewFn relay = program_nothrow_new()) {
        t_relay = NothrowRelay{n, align, ra, true};
        void* p = relay(SIZE_MAX, std::nothrow);
        t_relay.active = false;  // not consumed: a libstdc++ that does not call ::operator new
        return p;
      }
      // No libstdc++.so past us: the handler is our own copy's, which nothing can set.
    }
    h();
    if (void* p = retry_after_handler(n, align, ra)) return p;
  }
}

namespace {

// The NULL check inside allocate (kNew), so that a stack site's way is a tail call.
TM_FAST_PATH void* do_new(size_t n, uintptr_t ra) { return allocate<kOpMalloc, kNewThrow>(n, ra, kApiNew, 0, nullptr); }
TM_FAST_PATH void* do_new_nothrow(size_t n, uintptr_t ra) {
  return allocate<kOpMalloc, kNewNothrow>(n, ra, kApiNew, 0, nullptr);
}
TM_FAST_PATH void* do_new_aligned(size_t n, std::align_val_t al, uintptr_t ra) {
  size_t a = static_cast<size_t>(al);
  void* p = a > kMinAlign ? allocate<kOpAligned>(n, ra, kApiNew, a, nullptr)
                          : allocate<kOpMalloc>(n < a ? a : n, ra, kApiNew, 0, nullptr);
  return TM_LIKELY(p != nullptr) ? p : new_failed(n, a, ra, false);
}
TM_FAST_PATH void* do_new_aligned_nothrow(size_t n, std::align_val_t al, uintptr_t ra) {
  size_t a = static_cast<size_t>(al);
  void* p = a > kMinAlign ? allocate<kOpAligned>(n, ra, kApiNew, a, nullptr)
                          : allocate<kOpMalloc>(n < a ? a : n, ra, kApiNew, 0, nullptr);
  return TM_LIKELY(p != nullptr) ? p : new_failed(n, a, ra, true);
}

}  // namespace

// ---- the C allocation family ------------------------------------------------------------
TM_EXPORT void* malloc(size_t n) { return do_malloc(n, TM_RETURN_ADDRESS(), kApiMalloc); }
TM_EXPORT void* calloc(size_t c, size_t n) { return do_calloc(c, n, TM_RETURN_ADDRESS()); }
TM_EXPORT void* realloc(void* p, size_t n) { return do_realloc(p, n, TM_RETURN_ADDRESS()); }
TM_EXPORT void* reallocarray(void* p, size_t c, size_t n) {
  size_t total;
  if (__builtin_mul_overflow(c, n, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return do_realloc(p, total, TM_RETURN_ADDRESS());
}
TM_EXPORT void free(void* p) { release(p); }
TM_EXPORT void cfree(void* p) { release(p); }
TM_EXPORT int posix_memalign(void** out, size_t a, size_t n) { return do_posix_memalign(out, a, n, TM_RETURN_ADDRESS()); }
TM_EXPORT void* aligned_alloc(size_t a, size_t n) { return do_memalign(a, n, TM_RETURN_ADDRESS()); }
TM_EXPORT void* memalign(size_t a, size_t n) { return do_memalign(a, n, TM_RETURN_ADDRESS()); }
TM_EXPORT void* valloc(size_t n) { return do_aligned(page_size(), n, TM_RETURN_ADDRESS(), kApiAligned); }
TM_EXPORT void* pvalloc(size_t n) { return do_pvalloc(n, TM_RETURN_ADDRESS()); }
TM_EXPORT size_t malloc_usable_size(void* p) { return p ? usable(p) : 0; }

// glibc's internal names, which some programs and libraries call directly.
TM_EXPORT void* __libc_malloc(size_t n) { return do_malloc(n, TM_RETURN_ADDRESS(), kApiMalloc); }
TM_EXPORT void* __libc_calloc(size_t c, size_t n) { return do_calloc(c, n, TM_RETURN_ADDRESS()); }
TM_EXPORT void* __libc_realloc(void* p, size_t n) { return do_realloc(p, n, TM_RETURN_ADDRESS()); }
TM_EXPORT void __libc_free(void* p) { release(p); }
TM_EXPORT void* __libc_memalign(size_t a, size_t n) { return do_memalign(a, n, TM_RETURN_ADDRESS()); }
TM_EXPORT void* __libc_valloc(size_t n) { return do_aligned(page_size(), n, TM_RETURN_ADDRESS(), kApiAligned); }
TM_EXPORT void* __libc_pvalloc(size_t n) { return do_pvalloc(n, TM_RETURN_ADDRESS()); }
TM_EXPORT int __posix_memalign(void** out, size_t a, size_t n) { return do_posix_memalign(out, a, n, TM_RETURN_ADDRESS()); }

// ---- anonymous mappings -----------------------------------------------------------------
TM_EXPORT void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  return place_mmap(addr, len, prot, flags, fd, off, TM_RETURN_ADDRESS());
}
TM_EXPORT void* mmap64(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  return place_mmap(addr, len, prot, flags, fd, off, TM_RETURN_ADDRESS());
}
TM_EXPORT int munmap(void* addr, size_t len) { return track_munmap(addr, len); }
TM_EXPORT void* mremap(void* old, size_t old_len, size_t new_len, int flags, ...) {
  void* new_addr = nullptr;
  if (flags & MREMAP_FIXED) {
    va_list ap;
    va_start(ap, flags);
    new_addr = va_arg(ap, void*);
    va_end(ap);
  }
  return track_mremap(old, old_len, new_len, flags, new_addr);
}

// ---- introspection, for tests and tools -------------------------------------------------
/** The tier index holding p (heap block or placed mapping), or -1 if not ours. */
TM_EXPORT int tiermalloc_tier_of(const void* p) {
  if (owned(p)) return g_slot_tier[(reinterpret_cast<uintptr_t>(p) - g_base) >> g_shift];
  return tier_of_slow(p);
}
/** The name of tier i in the policy in force, or NULL. */
TM_EXPORT const char* tiermalloc_tier_name(int i) {
  const CompiledPolicy* pol = policy();
  if (i == 0) return "plain";
  if (!pol || i < 0 || i >= pol->ntiers) return nullptr;
  return pol->tiers[i].name;
}

// ---- C++ operator new and delete: every form ---------------------------------------------
#define TM_CXX_EXPORT __attribute__((visibility("default")))
TM_CXX_EXPORT void* operator new(size_t n) { return do_new(n, TM_RETURN_ADDRESS()); }
TM_CXX_EXPORT void* operator new[](size_t n) { return do_new(n, TM_RETURN_ADDRESS()); }
TM_CXX_EXPORT void* operator new(size_t n, const std::nothrow_t&) noexcept { return do_new_nothrow(n, TM_RETURN_ADDRESS()); }
TM_CXX_EXPORT void* operator new[](size_t n, const std::nothrow_t&) noexcept { return do_new_nothrow(n, TM_RETURN_ADDRESS()); }
TM_CXX_EXPORT void* operator new(size_t n, std::align_val_t a) { return do_new_aligned(n, a, TM_RETURN_ADDRESS()); }
TM_CXX_EXPORT void* operator new[](size_t n, std::align_val_t a) { return do_new_aligned(n, a, TM_RETURN_ADDRESS()); }
TM_CXX_EXPORT void* operator new(size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return do_new_aligned_nothrow(n, a, TM_RETURN_ADDRESS());
}
TM_CXX_EXPORT void* operator new[](size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return do_new_aligned_nothrow(n, a, TM_RETURN_ADDRESS());
}
TM_CXX_EXPORT void operator delete(void* p) noexcept { release(p); }
TM_CXX_EXPORT void operator delete[](void* p) noexcept { release(p); }
TM_CXX_EXPORT void operator delete(void* p, size_t) noexcept { release(p); }
TM_CXX_EXPORT void operator delete[](void* p, size_t) noexcept { release(p); }
TM_CXX_EXPORT void operator delete(void* p, const std::nothrow_t&) noexcept { release(p); }
TM_CXX_EXPORT void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p); }
TM_CXX_EXPORT void operator delete(void* p, std::align_val_t) noexcept { release(p); }
TM_CXX_EXPORT void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
TM_CXX_EXPORT void operator delete(void* p, size_t, std::align_val_t) noexcept { release(p); }
TM_CXX_EXPORT void operator delete[](void* p, size_t, std::align_val_t) noexcept { release(p); }
TM_CXX_EXPORT void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
TM_CXX_EXPORT void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
