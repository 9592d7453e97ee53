// SPDX-License-Identifier: MIT
// interpose/retain.cpp -- how much freed arena memory stays resident.
//
// Our arenas are registered with mimalloc as committed (PERF-NOTES.md: decommit/recommit
// cycles cost thread-heavy programs 1.8x), so mimalloc never gave their memory back: a
// program's peak RSS was all it had ever touched.  Our patch to mimalloc
// (interpose/mimalloc-2.0.9.patch) lets segments purge their free spans after a delay, and
// calls the hooks below when whole arena blocks (32 MiB: a huge block's segment, or a segment
// that became empty) are released and claimed, and when pages larger than a medium page
// (large and huge blocks) come into use.  Released blocks are kept resident for reuse -- so
// large-block churn does not fault its pages in again, which is what makes Debian's mimalloc
// slower than glibc there -- and purged (MADV_DONTNEED) beyond two bounds:
//
// - the budget, TIERMALLOC_RETAIN_MIB (default 128; 0 purges every release), read with the
//   rest of the environment in our constructor (boot.cpp); a bad value is reported and
//   ignored.  The runs released longest ago are given back first.
// - the resident set: freed memory kept resident, the kept blocks and the free spans waiting
//   for mimalloc's purge delay, may add at most kHeadroomPct (10%) to the high-water mark of
//   the rest (the resident set without them, /proc/self/statm, observed whenever a large or
//   huge page is taken).  Above it the oldest kept runs are given back, then the calling
//   thread's waiting spans purged at once.  So keeping memory raises the peak by at most a
//   tenth (20% was tried: `large` at 1000 operations peaked at 1.12-1.15x of mimalloc's; 10%:
//   0.97-1.05x, still 0.77x of glibc's time; docs/perf/issue7-findings.md section 12), while a program below its peak keeps what it freed for its next allocations.
//
// A kept run stays claimed in its arena's bitmap, so only these hooks hand it out again: a
// claim of the same arena and length takes the newest one before any block of the bitmap
// (those are purged or never touched).  `workloads large` (peak MiB / minor faults, seed 1):
// 300 ops (the suite's) (a) 144 / 117k -> 134 / 126k, (b) 121 / 127k -> 137 / 133k; 2000 ops
// (a) 209 / 662k -> 192 / 298k, (b) 185 / 827k -> 199 / 326k (mimalloc 187 MiB, glibc 739k
// faults); other seeds in docs/perf/issue7-findings.md section 12.
//
// The hooks take no lock (the kept runs are 64 atomic slots) and run off the hot path:
// segment allocation and release, and large or huge pages (at most once a millisecond: an
// open, a read and a close of /proc/self/statm, ~4 us).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <ctime>

#include "interpose/diag.hpp"
#include "interpose/runtime.hpp"

// interpose/mimalloc-2.0.9.patch (arena.c): a kept run given back, already purged, is
// unclaimed in its arena's bitmap.
extern "C" void tiermalloc_arena_unclaim(size_t arena_index, void* p, size_t blocks);

namespace {

constexpr uint64_t kDefaultMiB = 128;
constexpr int kBlockShift = 25;       // mimalloc's arena block: 32 MiB
constexpr int kSlots = 64;            // runs kept at most (a release beyond is purged)
constexpr int64_t kHeadroomPct = 10;  // freed memory kept resident: at most this much above the mark (%)
constexpr int64_t kGrowPct = 25;      // a page just taken counts this much before it is written
constexpr int64_t kLookNs = 1000000;  // the resident set is read at most once a millisecond

std::atomic<uint64_t> g_budget{kDefaultMiB << 20};  // until the constructor has read the environment
std::atomic<uint64_t> g_retained{0};                // bytes of the kept runs (and of one being put)
std::atomic<uint64_t> g_stamp{0};                   // release order
std::atomic<int64_t> g_mark{0};                     // high-water mark of the resident set without what is kept

// A kept run: 0 when the slot is empty, else its address in blocks (bits 0..31), its arena's
// index (32..38), its length in blocks (39..47, 1..511) and its release stamp (48..63).
std::atomic<uint64_t> g_slot[kSlots];

uint64_t budget() { return g_budget.load(std::memory_order_relaxed); }

uint64_t pack(void* p, size_t arena, size_t blocks, uint64_t stamp) {
  return (reinterpret_cast<uintptr_t>(p) >> kBlockShift) | (uint64_t{arena} << 32) | (uint64_t{blocks} << 39) |
         ((stamp & 0xffff) << 48);
}
void* run_start(uint64_t e) { return reinterpret_cast<void*>((e & 0xffffffffu) << kBlockShift); }
size_t run_arena(uint64_t e) { return (e >> 32) & 0x7f; }
size_t run_blocks(uint64_t e) { return (e >> 39) & 0x1ff; }
uint64_t run_bytes(uint64_t e) { return uint64_t{run_blocks(e)} << kBlockShift; }
uint64_t run_age(uint64_t e, uint64_t now) { return (now - (e >> 48)) & 0xffff; }

void purge(void* p, uint64_t bytes) { syscall(SYS_madvise, p, bytes, MADV_DONTNEED); }

// Gives a run this module took out of its slot back to mimalloc: purged, then unclaimed.
void give_back(uint64_t e) {
  purge(run_start(e), run_bytes(e));
  tiermalloc_arena_unclaim(run_arena(e), run_start(e), run_blocks(e));
}

// Takes slot i if it still holds e; its bytes leave the count.
bool take(int i, uint64_t e) {
  if (!g_slot[i].compare_exchange_strong(e, 0, std::memory_order_acq_rel)) return false;
  g_retained.fetch_sub(run_bytes(e), std::memory_order_relaxed);
  return true;
}

// Puts e in an empty slot (its bytes already counted); false if every slot is taken.
bool put(uint64_t e) {
  for (int i = 0; i < kSlots; ++i) {
    uint64_t empty = 0;
    if (g_slot[i].load(std::memory_order_relaxed) == 0 &&
        g_slot[i].compare_exchange_strong(empty, e, std::memory_order_release))
      return true;
  }
  return false;
}

// Gives back the run released longest ago; false if none is kept.
bool evict_oldest() {
  for (int tries = 0; tries < 4; ++tries) {
    uint64_t now = g_stamp.load(std::memory_order_relaxed), best = 0, best_age = 0;
    int at = -1;
    for (int i = 0; i < kSlots; ++i) {
      uint64_t e = g_slot[i].load(std::memory_order_acquire);
      if (e && (at < 0 || run_age(e, now) > best_age)) at = i, best = e, best_age = run_age(e, now);
    }
    if (at < 0) return false;
    if (take(at, best)) {
      give_back(best);
      return true;
    }
  }
  return false;
}

// The resident set in bytes, or -1 if it cannot be read.  /proc/self/statm is opened for
// each look and closed again: a descriptor kept open could be closed by the program (daemons
// close every descriptor) and its number reused for one of the program's files, which we
// would then read -- or, closing "ours" in a fork's child, close.
int64_t resident() {
  int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/proc/self/statm", O_RDONLY | O_CLOEXEC));
  if (fd < 0) return -1;
  char buf[96];
  long n = syscall(SYS_pread64, fd, buf, sizeof buf - 1, 0);
  syscall(SYS_close, fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char* q = buf;
  while (*q && *q != ' ') ++q;  // "size resident shared ..." in pages
  return strtoll(q, nullptr, 10) * sysconf(_SC_PAGESIZE);
}

int64_t cap_of(int64_t mark) { return mark + mark * kHeadroomPct / 100; }

}  // namespace

namespace tiermalloc::rt {

void retain_configure(const char* mib_text) {
  if (!mib_text) return;
  char* end;
  errno = 0;
  unsigned long long mib = strtoull(mib_text, &end, 10);
  if (!*mib_text || *end || errno || mib >= (uint64_t{1} << 40) || *mib_text == '-') {
    diag::emit(diag::kWarn, "TIERMALLOC_RETAIN_MIB: expected a whole number of MiB (0 to 2^40-1); using 128");
    return;
  }
  g_budget.store(mib << 20, std::memory_order_relaxed);
}

}  // namespace tiermalloc::rt

// The hooks (interpose/mimalloc-2.0.9.patch).

// Blocks at p (still claimed) are being released: true if they are kept (they stay claimed),
// false if purged (mimalloc unclaims them).
extern "C" __attribute__((visibility("hidden"))) bool tiermalloc_arena_released(void* p, size_t size, size_t arena) {
  const uint64_t lim = budget();
  const size_t blocks = size >> kBlockShift;
  if (size > lim || blocks > 0x1ff || arena > 0x7f) {
    purge(p, size);
    return false;
  }
  // Kept only while the resident set is within the cap (keeping it moves nothing then; no
  // cap before the mark's first look, at a large or huge page).
  int64_t mark = g_mark.load(std::memory_order_relaxed);
  if (mark > 0) {
    int64_t rss = resident();
    if (rss >= 0 && rss > cap_of(mark)) {
      purge(p, size);
      return false;
    }
  }
  // Room in the budget: the runs released longest ago are given back first.
  uint64_t r = g_retained.load(std::memory_order_relaxed);
  for (;;) {
    if (r + size <= lim) {
      if (g_retained.compare_exchange_weak(r, r + size, std::memory_order_relaxed)) break;
      continue;
    }
    if (!evict_oldest()) {
      purge(p, size);
      return false;
    }
    r = g_retained.load(std::memory_order_relaxed);
  }
  if (put(pack(p, arena, blocks, g_stamp.fetch_add(1, std::memory_order_relaxed) + 1))) return true;
  g_retained.fetch_sub(size, std::memory_order_relaxed);
  purge(p, size);
  return false;
}

// A claim of `blocks` blocks of this arena: the newest kept run of that length (*out), or for
// one block the first block of a longer run (the rest stays kept); false if none.
extern "C" __attribute__((visibility("hidden"))) bool tiermalloc_arena_reuse(size_t arena, size_t blocks, void** out) {
  if (g_retained.load(std::memory_order_relaxed) == 0) return false;
  for (int tries = 0; tries < 4; ++tries) {
    uint64_t now = g_stamp.load(std::memory_order_relaxed), best = 0, longer = 0;
    int at = -1, at_longer = -1;
    for (int i = 0; i < kSlots; ++i) {
      uint64_t e = g_slot[i].load(std::memory_order_acquire);
      if (!e || run_arena(e) != arena) continue;
      if (run_blocks(e) == blocks) {
        if (at < 0 || run_age(e, now) < run_age(best, now)) at = i, best = e;
      } else if (blocks == 1 && run_blocks(e) > 1 && at_longer < 0) {
        at_longer = i, longer = e;
      }
    }
    if (at >= 0) {
      if (!take(at, best)) continue;
      *out = run_start(best);
      return true;
    }
    if (at_longer < 0) return false;
    if (!take(at_longer, longer)) continue;
    void* rest = static_cast<char*>(run_start(longer)) + (size_t{1} << kBlockShift);
    uint64_t e = pack(rest, arena, run_blocks(longer) - 1, longer >> 48);
    g_retained.fetch_add(run_bytes(e), std::memory_order_relaxed);
    if (!put(e)) {
      g_retained.fetch_sub(run_bytes(e), std::memory_order_relaxed);
      give_back(e);
    }
    *out = run_start(longer);
    return true;
  }
  return false;
}

// The arena is full: every run kept of it is given back; true if there was one.
extern "C" __attribute__((visibility("hidden"))) bool tiermalloc_arena_flush(size_t arena) {
  bool any = false;
  for (int i = 0; i < kSlots; ++i) {
    uint64_t e = g_slot[i].load(std::memory_order_acquire);
    if (e && run_arena(e) == arena && take(i, e)) {
      give_back(e);
      any = true;
    }
  }
  return any;
}

// At most one look at the resident set a millisecond (/proc/self/statm opened, read, closed):
// a loop taking and freeing one big block would otherwise pay it every time.
extern "C" __attribute__((visibility("hidden"))) bool tiermalloc_big_page_due() {
  static std::atomic<int64_t> next{0};
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t now = int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec, due = next.load(std::memory_order_relaxed);
  return now >= due && next.compare_exchange_strong(due, now + kLookNs, std::memory_order_relaxed);
}

// A page larger than a medium page, of `bytes`, was taken; `pending`: the bytes of the calling
// thread's free spans waiting for mimalloc's purge delay.  The mark moves up; above the cap
// the oldest kept runs are given back, and true asks mimalloc to purge the thread's waiting
// spans at once.
extern "C" __attribute__((visibility("hidden"))) bool tiermalloc_big_page(size_t bytes, size_t pending) {
  int64_t rss = resident();
  if (rss < 0) return false;
  int64_t kept = static_cast<int64_t>(g_retained.load(std::memory_order_relaxed));
  int64_t rest = rss - kept - static_cast<int64_t>(pending);
  int64_t mark = g_mark.load(std::memory_order_relaxed);
  while (rest > mark && !g_mark.compare_exchange_weak(mark, rest, std::memory_order_relaxed)) {
  }
  if (rest > mark) mark = rest;
  const int64_t cap = cap_of(mark);
  rss += static_cast<int64_t>(bytes) * kGrowPct / 100;
  while (kept > 0 && rss > cap && evict_oldest()) {
    int64_t now = static_cast<int64_t>(g_retained.load(std::memory_order_relaxed));
    rss -= kept - now;
    kept = now;
  }
  return pending > 0 && rss > cap;
}
