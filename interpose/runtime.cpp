// SPDX-License-Identifier: MIT
// interpose/runtime.cpp -- the slow path: first allocation of a thread or a call site,
// heaps created on demand, fallback chains when a tier is exhausted, glibc's errno rules,
// and the bootstrap buffer for allocations made while we set ourselves up.
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <sys/mman.h>

#include "interpose/diag.hpp"
#include "interpose/runtime.hpp"
#include "topology/bind.hpp"

extern "C" void* tiermalloc_sys_mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off);
extern "C" int tiermalloc_sys_munmap(void* addr, size_t len);

namespace tiermalloc::rt {

constinit thread_local ThreadState t_state __attribute__((tls_model("initial-exec")));
Totals g_totals;

namespace {

// ---- bootstrap buffer ------------------------------------------------------------------
// Serves allocations made while this thread is inside our own set-up (the arena
// reservation, mimalloc's process init registering atexit, pthread_setspecific's
// second-level array).  Bump allocation, never reused; a 16-byte header keeps the size
// for realloc and malloc_usable_size.  free() of these pointers is a no-op.
constexpr size_t kBootBytes = 1 << 20;
alignas(64) unsigned char g_boot_buf[kBootBytes];
std::atomic<size_t> g_boot_used{0};

bool boot_owns(const void* p) {
  auto a = reinterpret_cast<uintptr_t>(p), b = reinterpret_cast<uintptr_t>(g_boot_buf);
  return a >= b && a < b + kBootBytes;
}

void* boot_alloc(size_t size, size_t align, bool zero) {
  if (align < 16) align = 16;
  if (size > kBootBytes || align > 4096) return nullptr;
  size_t cur = g_boot_used.load(std::memory_order_relaxed);
  for (;;) {
    size_t start = (cur + 16 + align - 1) & ~(align - 1);
    size_t end = start + ((size + 15) & ~size_t{15});
    if (end > kBootBytes) diag::fatal("bootstrap buffer exhausted during set-up");
    if (g_boot_used.compare_exchange_weak(cur, end, std::memory_order_relaxed)) {
      unsigned char* p = g_boot_buf + start;
      std::memcpy(p - 16, &size, sizeof size);
      (void)zero;  // the buffer is never reused: still zero
      return p;
    }
  }
}

size_t boot_size(const void* p) {
  size_t s;
  std::memcpy(&s, static_cast<const unsigned char*>(p) - 16, sizeof s);
  return s;
}

void* boot_serve(const Req& r) {
  size_t align = r.op == kOpAligned ? r.align : 16;
  void* p = boot_alloc(r.size, align, r.op == kOpCalloc);
  if (p && r.op == kOpRealloc && r.old) {
    size_t old = owned(r.old) ? mi_usable_size(r.old) : boot_owns(r.old) ? boot_size(r.old) : 0;
    std::memcpy(p, r.old, old < r.size ? old : r.size);
  }
  return p;
}

constinit CompiledPolicy g_boot_policy{};  // before publication: every site, tier 0

const SitePlan* resolve_site(ThreadState& ts, uintptr_t ra) {
  const CompiledPolicy* pol = policy();
  if (!pol) return &g_boot_policy.plan;  // not cached: the policy is not published yet
  bool cacheable;
  const SitePlan* plan = plan_for_site(ts, ra, pol, &cacheable);
  if (cacheable) ts.cache[site_hash(ra)] = SiteSlot{ra, plan};
  return plan;
}

void* try_tier(ThreadState& ts, int tier, const Req& r) {
  mi_heap_t* h = ts.heap[tier];
  if (!h) {
    mi_arena_id_t id;
    if (!arena_of(tier, &id)) return nullptr;
    ts.in_boot++;
    h = mi_heap_new_in_arena(id);
    ts.in_boot--;
    if (!h) return nullptr;
    ts.heap[tier] = h;
  }
  return heap_op(h, r);
}

// ---- alignments above what a mimalloc arena can give ---------------------------------------
// mimalloc aligns within its 32 MiB segments, so at most 16 MiB.  Larger alignments (rare:
// huge-page-aligned buffers) get their own mapping, bound like the tier, and a row in a
// small table that free/realloc/malloc_usable_size consult on their slow path.
constexpr size_t kArenaMaxAlign = size_t{16} << 20;
constexpr int kMaxBigAligned = 256;
struct BigAligned {
  uintptr_t addr;
  size_t size;   // requested
  size_t len;    // mapped
  int tier;
};
BigAligned g_big[kMaxBigAligned];
std::atomic<bool> g_big_lock{false};
struct BigLock {
  BigLock() { while (g_big_lock.exchange(true, std::memory_order_acquire)) sched_yield(); }
  ~BigLock() { g_big_lock.store(false, std::memory_order_release); }
};

void* big_aligned_alloc(ThreadState& ts, int tier, const Req& r) {
  size_t ps = 4096;
  size_t len = (r.size + ps - 1) & ~(ps - 1);
  if (len < r.size || len + r.align < len) return nullptr;
  void* m = tiermalloc_sys_mmap(nullptr, len + r.align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  uintptr_t a = reinterpret_cast<uintptr_t>(m), start = (a + r.align - 1) & ~(r.align - 1);
  if (start > a) tiermalloc_sys_munmap(m, start - a);
  if (a + len + r.align > start + len) tiermalloc_sys_munmap(reinterpret_cast<void*>(start + len), a + len + r.align - start - len);
  const CompiledPolicy* pol = policy();
  if (pol && tier > 0 && tier < pol->ntiers && pol->tiers[tier].available)
    topo::bind_range(reinterpret_cast<void*>(start), len, pol->tiers[tier].mode, pol->tiers[tier].nodes);
  BigLock lock;
  for (auto& b : g_big) {
    if (b.addr) continue;
    b = BigAligned{start, r.size, len, tier};
    ts.allocs[tier]++;
    ts.bytes[tier] += r.size;
    return reinterpret_cast<void*>(start);
  }
  tiermalloc_sys_munmap(reinterpret_cast<void*>(start), len);
  return nullptr;
}

BigAligned* big_find(const void* p) {
  for (auto& b : g_big)
    if (b.addr && b.addr == reinterpret_cast<uintptr_t>(p)) return &b;
  return nullptr;
}

bool big_free(void* p) {
  BigAligned b;
  {
    BigLock lock;
    BigAligned* e = big_find(p);
    if (!e) return false;
    b = *e;
    e->addr = 0;
  }
  tiermalloc_sys_munmap(p, b.len);
  g_totals.frees[b.tier].fetch_add(1, std::memory_order_relaxed);
  return true;
}

size_t big_size(const void* p) {
  BigLock lock;
  BigAligned* e = big_find(p);
  return e ? e->size : 0;
}

void warn_exhausted_once(int tier, const CompiledPolicy* pol) {
  static std::atomic<uint32_t> warned{0};
  uint32_t bit = 1u << tier;
  if (warned.fetch_or(bit, std::memory_order_relaxed) & bit) return;
  diag::Line l;
  l.s("tier '").s(pol ? pol->tiers[tier].name : "plain").s("' is exhausted; allocations take the fallback chain");
  diag::emit(diag::kInfo, l);
}

}  // namespace

void big_table_lock() {
  while (g_big_lock.exchange(true, std::memory_order_acquire)) sched_yield();
}
void big_table_unlock() { g_big_lock.store(false, std::memory_order_release); }

void* alloc_slow(size_t size, uintptr_t ra, uint32_t api, Op op, size_t align, void* old) {
  const Req r{size, align, old, ra, api, op};
  ThreadState& ts = t_state;
  if (ts.in_boot) return boot_serve(r);
  int saved_errno = errno;
  if (!ensure_reserved()) {
    // No address space at all for arenas: serve from the bootstrap buffer while it lasts.
    return boot_serve(r);
  }
  if (ts.phase != kActive) thread_attach(ts);

  const SitePlan* plan = resolve_site(ts, r.ra);
  int rule = -1;
  int tier = plan->tier_for(r.size, r.api, &rule);
  if (r.op == kOpAligned && r.align > kArenaMaxAlign) {
    void* p = big_aligned_alloc(ts, tier, r);
    if (!p) errno = ENOMEM;
    else errno = saved_errno;
    return p;
  }
  void* p = try_tier(ts, tier, r);
  int placed = tier;
  if (!p) {
    const CompiledPolicy* pol = policy();
    OnExhausted mode = pol ? pol->on_exhausted : OnExhausted::kFallback;
    if (tier != 0) warn_exhausted_once(tier, pol);
    if (mode == OnExhausted::kAbort && tier != 0) {
      diag::Line l;
      l.s("tier '").s(pol->tiers[tier].name).s("' is exhausted and on_exhausted is abort");
      diag::emit(diag::kError, l);
      abort();
    }
    if (mode == OnExhausted::kFallback && pol) {
      const uint8_t* chain = pol->tiers[tier].fallback;
      int n = pol->tiers[tier].nfallback;
      if (rule >= 0 && pol->rules[rule].nfallback) {
        chain = pol->rules[rule].fallback;
        n = pol->rules[rule].nfallback;
      }
      for (int k = 0; k < n && !p; ++k) {
        if (chain[k] == tier) continue;
        p = try_tier(ts, chain[k], r);
        placed = chain[k];
      }
    }
    // Plain allocation is the last resort of every chain: the program must not fail
    // because a tier filled up, unless the policy says `on_exhausted: fail`.
    if (!p && tier != 0 && mode != OnExhausted::kFail) {
      p = try_tier(ts, 0, r);
      placed = 0;
    }
    if (p && placed != tier) g_totals.fallbacks_out[tier].fetch_add(1, std::memory_order_relaxed);
  }
  if (!p) {
    errno = ENOMEM;
    return nullptr;
  }
  ts.allocs[placed]++;
  ts.bytes[placed] += r.size;
  errno = saved_errno;
  return p;
}

void free_slow(void* p) {
  if (!p || boot_owns(p)) return;
  if (big_free(p)) return;
  // Not from our arenas nor our bootstrap buffer: a pointer we never handed out.  Freeing
  // it through mimalloc would corrupt memory; ignoring it leaks at worst.
  static std::atomic<int> reported{0};
  if (reported.fetch_add(1, std::memory_order_relaxed) < 3) {
    diag::Line l;
    l.s("free(").x(reinterpret_cast<uintptr_t>(p)).s("): not a pointer from this allocator; ignored");
    diag::emit(diag::kError, l);
  }
}

size_t usable_slow(const void* p) {
  if (p && boot_owns(p)) return boot_size(p);
  return p ? big_size(p) : 0;
}

void* realloc_move(void* p, size_t size, uintptr_t ra) {
  void* q = allocate<kOpMalloc>(size, ra, kApiRealloc);
  if (q) {
    size_t old = mi_usable_size(p);
    std::memcpy(q, p, old < size ? old : size);
    release(p);
  }
  return q;
}

int tier_of_slow(const void* p) {
  if (!p) return -1;
  {
    BigLock lock;
    if (BigAligned* b = big_find(p)) return b->tier;
  }
  return mmap_tier_of(p);
}

void* realloc_foreign(void* p, size_t size, uintptr_t ra) {
  if (boot_owns(p)) {
    void* q = allocate<kOpMalloc>(size, ra, kApiRealloc);
    if (q) {
      size_t old = boot_size(p);
      std::memcpy(q, p, old < size ? old : size);
    }
    return q;
  }
  if (size_t old = big_size(p)) {
    void* q = allocate<kOpMalloc>(size, ra, kApiRealloc);
    if (q) {
      std::memcpy(q, p, old < size ? old : size);
      big_free(p);
    }
    return q;
  }
  free_slow(p);  // reports it
  errno = ENOMEM;
  return nullptr;
}

}  // namespace tiermalloc::rt
