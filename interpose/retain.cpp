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
// Budget: TIERMALLOC_RETAIN_MIB (default 32; 0 purges every release).  bench/suite.py
// `large` (peak RSS; mimalloc 129.4 MiB): 0 -> 132.6 MiB, 252k page faults; 32 -> 144.0 MiB,
// 125k faults, glibc's time; 64 -> 150.1 MiB; unbounded (before) 156.6 MiB, 39k faults.
//
// The count is approximate: a claim lowers it by the blocks claimed even when they were
// never released (fresh ones), so the resident released memory can exceed the budget by the
// fresh blocks claimed while retained ones sat idle.  Both hooks run off the hot path
// (segment allocation and release), take no lock, and make at most one system call.
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace {

constexpr uint64_t kUnset = ~uint64_t{0};
constexpr uint64_t kDefaultMiB = 32;
std::atomic<uint64_t> g_budget{kUnset};
std::atomic<uint64_t> g_retained{0};

uint64_t budget() {
  uint64_t v = g_budget.load(std::memory_order_relaxed);
  if (v != kUnset) return v;
  v = kDefaultMiB << 20;
  const char* e = getauxval(AT_SECURE) ? nullptr : getenv("TIERMALLOC_RETAIN_MIB");
  if (e && *e) {
    char* end;
    unsigned long long mib = strtoull(e, &end, 10);
    if (*end == 0 && mib < (uint64_t{1} << 40)) v = mib << 20;  // else the default
  }
  g_budget.store(v, std::memory_order_relaxed);
  return v;
}

}  // namespace

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
