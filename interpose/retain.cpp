// SPDX-License-Identifier: MIT
// interpose/retain.cpp -- how much freed arena memory stays resident.
//
// Our arenas are registered with mimalloc as committed (PERF-NOTES.md: decommit/recommit
// cycles cost thread-heavy programs 1.8x), so mimalloc never gave their memory back: a
// program's peak RSS was all it had ever touched.  Our patch to mimalloc
// (interpose/mimalloc-2.0.9.patch) lets segments purge their free spans after a delay, and
// calls the two hooks below when whole arena blocks (32 MiB: a huge block's segment, or a
// segment that became empty) are claimed and released.  Released memory is kept resident
// for reuse up to a budget -- so large-block churn does not fault its pages in again, which
// is what makes Debian's mimalloc slower than glibc there -- and purged (MADV_DONTNEED,
// while the blocks are still claimed) beyond it.
//
// Budget: TIERMALLOC_RETAIN_MIB (default 32; 0 purges every release), read with the rest of
// the environment in our constructor (boot.cpp); a bad value is reported and ignored.  bench/suite.py
// `large` (peak RSS; mimalloc 129.4 MiB): 0 -> 132.6 MiB, 252k page faults; 32 -> 144.0 MiB,
// 125k faults, glibc's time; 64 -> 150.1 MiB; unbounded (before) 156.6 MiB, 39k faults.
//
// The count is approximate: a claim lowers it by the blocks claimed even when they were
// never released (fresh ones), so the resident released memory can exceed the budget by the
// fresh blocks claimed while retained ones sat idle.  Both hooks run off the hot path
// (segment allocation and release), take no lock, and make at most one system call.
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "interpose/diag.hpp"
#include "interpose/runtime.hpp"

namespace {

constexpr uint64_t kDefaultMiB = 32;
std::atomic<uint64_t> g_budget{kDefaultMiB << 20};  // until the constructor has read the environment
std::atomic<uint64_t> g_retained{0};

uint64_t budget() { return g_budget.load(std::memory_order_relaxed); }

}  // namespace

namespace tiermalloc::rt {

void retain_configure(const char* mib_text) {
  if (!mib_text) return;
  char* end;
  errno = 0;
  unsigned long long mib = strtoull(mib_text, &end, 10);
  if (!*mib_text || *end || errno || mib >= (uint64_t{1} << 40) || *mib_text == '-') {
    diag::emit(diag::kWarn, "TIERMALLOC_RETAIN_MIB: expected a whole number of MiB (0 to 2^40-1); using 32");
    return;
  }
  g_budget.store(mib << 20, std::memory_order_relaxed);
}

}  // namespace tiermalloc::rt

extern "C" __attribute__((visibility("hidden"))) void tiermalloc_arena_claimed(void*, size_t size) {
  uint64_t r = g_retained.load(std::memory_order_relaxed);
  while (r && !g_retained.compare_exchange_weak(r, r > size ? r - size : 0, std::memory_order_relaxed)) {
  }
}

extern "C" __attribute__((visibility("hidden"))) void tiermalloc_arena_released(void* p, size_t size) {
  uint64_t lim = budget();
  uint64_t r = g_retained.load(std::memory_order_relaxed);
  while (r + size <= lim) {
    if (g_retained.compare_exchange_weak(r, r + size, std::memory_order_relaxed)) return;
  }
  syscall(SYS_madvise, p, size, MADV_DONTNEED);
}
