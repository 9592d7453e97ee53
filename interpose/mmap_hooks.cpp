// SPDX-License-Identifier: MIT
// interpose/mmap_hooks.cpp -- anonymous private mmap placed by rules whose api includes
// mmap, and the bookkeeping that lets munmap/mremap keep the per-tier figures right.
//
// Also the raw system-call wrappers that mimalloc's OS layer is compiled to call
// (CMakeLists.txt renames its mmap/munmap/mremap): our exported mmap never sees the
// allocator's own mappings.
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>

#include "interpose/runtime.hpp"
#include "topology/bind.hpp"

extern "C" {

__attribute__((visibility("hidden"))) void* tiermalloc_sys_mmap(void* addr, size_t len, int prot, int flags, int fd,
                                                                off_t off) {
  long r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
  return reinterpret_cast<void*>(r);  // syscall() returns -1 (MAP_FAILED) and sets errno
}

__attribute__((visibility("hidden"))) int tiermalloc_sys_munmap(void* addr, size_t len) {
  return static_cast<int>(syscall(SYS_munmap, addr, len));
}

__attribute__((visibility("hidden"))) void* tiermalloc_sys_mremap(void* old, size_t old_len, size_t new_len, int flags,
                                                                  ...) {
  void* new_addr = nullptr;
  if (flags & MREMAP_FIXED) {
    va_list ap;
    va_start(ap, flags);
    new_addr = va_arg(ap, void*);
    va_end(ap);
  }
  return reinterpret_cast<void*>(syscall(SYS_mremap, old, old_len, new_len, flags, new_addr));
}

}  // extern "C"

namespace tiermalloc::rt {
namespace {

// Placed mappings: a small fixed table under a spin lock (mmap is a system call anyway).
// A mapping that does not fit is still placed, only not counted.
constexpr int kMaxMaps = 4096;
struct Mapping {
  uintptr_t addr;
  size_t len;
  int tier;
};
Mapping g_maps[kMaxMaps];
int g_nmaps = 0;
std::atomic<bool> g_lock{false};

struct Guard {
  Guard() { while (g_lock.exchange(true, std::memory_order_acquire)) sched_yield(); }
  ~Guard() { g_lock.store(false, std::memory_order_release); }
};

size_t page_round(size_t n) {
  size_t ps = 4096;
  return (n + ps - 1) & ~(ps - 1);
}

// Removes [a, a+len) from the table; a partial unmap keeps the remaining pieces.
void forget_range(uintptr_t a, size_t len) {
  uintptr_t e = a + page_round(len);
  Guard g;
  for (int i = 0; i < g_nmaps; ++i) {
    Mapping& m = g_maps[i];
    uintptr_t ms = m.addr, me = m.addr + m.len;
    if (me <= a || ms >= e) continue;
    uintptr_t cut_s = ms > a ? ms : a, cut_e = me < e ? me : e;
    g_totals.mmap_live[m.tier].fetch_sub(cut_e - cut_s, std::memory_order_relaxed);
    if (cut_s == ms && cut_e == me) {
      m = g_maps[--g_nmaps];
      --i;
    } else if (cut_s == ms) {
      m.addr = cut_e;
      m.len = me - cut_e;
    } else if (cut_e == me) {
      m.len = cut_s - ms;
    } else {
      m.len = cut_s - ms;  // a hole in the middle: keep both ends
      if (g_nmaps < kMaxMaps) g_maps[g_nmaps++] = Mapping{cut_e, me - cut_e, m.tier};
    }
  }
}

void remember(uintptr_t a, size_t len, int tier) {
  len = page_round(len);
  g_totals.mmap_live[tier].fetch_add(len, std::memory_order_relaxed);
  g_totals.mmap_count[tier].fetch_add(1, std::memory_order_relaxed);
  Guard g;
  if (g_nmaps < kMaxMaps) g_maps[g_nmaps++] = Mapping{a, len, tier};
}

int tier_of_mapping(uintptr_t a) {
  Guard g;
  for (int i = 0; i < g_nmaps; ++i)
    if (a >= g_maps[i].addr && a < g_maps[i].addr + g_maps[i].len) return g_maps[i].tier;
  return -1;
}

}  // namespace

int mmap_tier_of(const void* p) { return tier_of_mapping(reinterpret_cast<uintptr_t>(p)); }

void mmap_table_lock() {
  while (g_lock.exchange(true, std::memory_order_acquire)) sched_yield();
}
void mmap_table_unlock() { g_lock.store(false, std::memory_order_release); }

namespace {

void* place(void* p, size_t len, int flags, uintptr_t ra, int* placed, int* rule) {
  const CompiledPolicy* pol = policy();
  bool anon_private = (flags & MAP_ANONYMOUS) && (flags & MAP_PRIVATE) && !(flags & MAP_SHARED) &&
                      !(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE));
  if (p == MAP_FAILED || !pol || !pol->has_mmap_rules || !anon_private) return p;
  bool cacheable;
  bool by_stack;
  const SitePlan* plan = plan_for_site(t_state, ra, pol, &cacheable, &by_stack);
  int tier = plan->tier_for(len, kApiMmap, rule);
  if (*rule < 0 || tier == 0) return p;  // only rules whose api includes mmap place mappings
  const CompiledTier& t = pol->tiers[tier];
  int saved = errno;
  if (t.available && topo::bind_range(p, page_round(len), t.mode, t.nodes) == 0) {
    remember(reinterpret_cast<uintptr_t>(p), len, tier);
    *placed = tier;
  }
  errno = saved;
  return p;
}

}  // namespace

void* place_mmap(void* addr, size_t len, int prot, int flags, int fd, long off, uintptr_t ra) {
  void* p = tiermalloc_sys_mmap(addr, len, prot, flags, fd, off);
  int placed = 0, rule = -1;
  place(p, len, flags, ra, &placed, &rule);
  // Profile: the program's anonymous private mappings that hold memory (not PROT_NONE
  // reservations), by call site.
  if (TM_UNLIKELY(g_profile) && p != MAP_FAILED && (flags & MAP_ANONYMOUS) && (flags & MAP_PRIVATE) && !(flags & MAP_FIXED) &&
      prot != PROT_NONE) {
    int saved = errno;
    track_mapping(p, len, ra, placed, rule);
    errno = saved;
  }
  return p;
}

int track_munmap(void* addr, size_t len) {
  TrackRec rec;
  bool had = TM_UNLIKELY(g_profile) && track_take(addr, &rec);  // before the address can be reused
  int r = tiermalloc_sys_munmap(addr, len);
  if (had) {
    int saved = errno;
    if (r == 0) track_freed(rec);  // from its start: the whole mapping counts as freed
    else track_put_back(addr, rec);
    errno = saved;
  }
  if (r == 0 && g_nmaps > 0) {
    int saved = errno;
    forget_range(reinterpret_cast<uintptr_t>(addr), len);
    errno = saved;
  }
  return r;
}

void* track_mremap(void* old, size_t old_len, size_t new_len, int flags, void* new_addr) {
  int tier = g_nmaps > 0 ? tier_of_mapping(reinterpret_cast<uintptr_t>(old)) : -1;
  TrackRec rec;
  bool had = TM_UNLIKELY(g_profile) && track_take(old, &rec);
  void* p = tiermalloc_sys_mremap(old, old_len, new_len, flags, new_addr);
  if (had) {  // as realloc: the old mapping's free, a new one at the mremap's caller
    int saved = errno;
    if (p == MAP_FAILED) {
      track_put_back(old, rec);
    } else {
      track_remapped(rec, p, new_len);
    }
    errno = saved;
  }
  if (p != MAP_FAILED && tier >= 0) {
    // The kernel moves the memory policy with the mapping; only our figures change.
    int saved = errno;
    forget_range(reinterpret_cast<uintptr_t>(old), old_len);
    remember(reinterpret_cast<uintptr_t>(p), new_len, tier);
    errno = saved;
  }
  return p;
}

}  // namespace tiermalloc::rt
