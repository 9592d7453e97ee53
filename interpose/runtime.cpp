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
#include <sys/syscall.h>

#include "interpose/diag.hpp"
#include "interpose/runtime.hpp"
#include "topology/bind.hpp"

extern "C" void* tiermalloc_sys_mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off);
extern "C" int tiermalloc_sys_munmap(void* addr, size_t len);

namespace tiermalloc::rt {

constinit thread_local ThreadState t_state __attribute__((tls_model("initial-exec")));
Totals g_totals;

void* heap_malloc_or_slow(mi_heap_t* h, size_t size, uintptr_t ra, uint32_t api) {
#if TM_INLINE_POP
  // What mi_heap_malloc does for any size once the pop has failed (release configuration:
  // no padding to add, no statistics or tracking).
  void* p = tm_mi_malloc_generic(h, size, false, 0);
#else
  void* p = mi_heap_malloc(h, size);
#endif
  if (TM_LIKELY(p != nullptr)) return p;
  return alloc_slow(size, ra, api, kOpMalloc, 0, nullptr);
}

namespace {

// ---- bootstrap buffer ------------------------------------------------------------------
// Serves allocations made while this thread is inside our own set-up (the arena
// reservation, mimalloc's process init registering atexit, pthread_setspecific's
// second-level array).  Bump allocation; a 16-byte header keeps the size for realloc and
// malloc_usable_size.  free() of these pointers is a no-op -- but in load mode, below.
//
// Load mode (load_begin/load_end, around the policy's loading in our constructor: one
// thread): that thread's allocations of up to kLoadMax bytes come here too, and a block it
// frees is given back when it is the last one of the buffer, with the freed ones below it.
// The loading's temporaries (the policy text, the machine, the cache key, file buffers)
// come and go mostly last-in first-out, so they reuse a few pages here instead of the first
// page or two of a mimalloc page per size class of the plain heap (~30 pages, the process's
// peak RSS before release_boot_pages; issue 7); what lies above the last live block when
// loading ends is decommitted.
constexpr size_t kBootBytes = 1 << 20;
constexpr size_t kLoadMax = 64 << 10;
constexpr unsigned kLoadBlocks = 4096;
alignas(64) unsigned char g_boot_buf[kBootBytes];
std::atomic<size_t> g_boot_used{0};

struct BootHdr {      // the 16 bytes before a block
  uint64_t size;      // as asked
  uint32_t prev_end;  // g_boot_used before the block was cut
  uint32_t state;     // 0 a plain boot block, 1 a live load block, 2 a freed one
};
static_assert(sizeof(BootHdr) == 16, "the bootstrap buffer's header is 16 bytes");
std::atomic<ThreadState*> g_load_ts{nullptr};  // the loading thread, while in load mode
uint32_t g_load_block[kLoadBlocks];             // its live blocks' offsets, in order
unsigned g_load_n = 0;
size_t g_load_high = 0;                         // highest g_boot_used in load mode
size_t g_load_start = 0;                        // g_boot_used at load_begin
unsigned g_load_served = 0, g_load_heap = 0;    // the loading's allocations here / elsewhere
size_t g_load_bytes = 0;                        // the sizes of those served here, summed

BootHdr* boot_hdr(const void* p) { return reinterpret_cast<BootHdr*>(const_cast<unsigned char*>(static_cast<const unsigned char*>(p)) - 16); }

bool loading(ThreadState& ts) { return g_load_ts.load(std::memory_order_relaxed) == &ts; }

bool boot_owns(const void* p) {
  auto a = reinterpret_cast<uintptr_t>(p), b = reinterpret_cast<uintptr_t>(g_boot_buf);
  return a >= b && a < b + kBootBytes;
}

// may_fail: nullptr when the buffer is full (load mode: the caller then takes the plain
// heap); otherwise a full buffer is fatal (set-up cannot go on).
void* boot_alloc(size_t size, size_t align, bool zero, bool may_fail = false) {
  if (align < 16) align = 16;
  if (size > kBootBytes || align > 4096) return nullptr;
  bool load = loading(t_state);
  size_t cur = g_boot_used.load(std::memory_order_relaxed);
  for (;;) {
    size_t start = (cur + 16 + align - 1) & ~(align - 1);
    size_t end = start + ((size + 15) & ~size_t{15});
    if (end > kBootBytes) {
      if (may_fail) return nullptr;
      diag::fatal("bootstrap buffer exhausted during set-up");
    }
    if (g_boot_used.compare_exchange_weak(cur, end, std::memory_order_relaxed)) {
      unsigned char* p = g_boot_buf + start;
      BootHdr h{size, static_cast<uint32_t>(cur), 0};
      if (load) {
        g_load_served++;
        g_load_bytes += size;
      }
      if (load && g_load_n < kLoadBlocks) {
        h.state = 1;
        g_load_block[g_load_n++] = static_cast<uint32_t>(start);
        if (end > g_load_high) g_load_high = end;
      }
      std::memcpy(p - 16, &h, sizeof h);
      // Memory given back in load mode is cut again: not zero any more.
      if (zero) std::memset(p, 0, size);
      return p;
    }
  }
}

size_t boot_size(const void* p) {
  size_t s;
  std::memcpy(&s, static_cast<const unsigned char*>(p) - 16, sizeof s);
  return s;
}

// free() of a bootstrap-buffer block: gives it back in load mode (see above), else nothing.
void boot_free(void* p) {
  if (!loading(t_state)) return;
  BootHdr* h = boot_hdr(p);
  if (h->state != 1) return;
  h->state = 2;
  while (g_load_n > 0) {
    uint32_t off = g_load_block[g_load_n - 1];
    BootHdr* top = boot_hdr(g_boot_buf + off);
    if (top->state != 2) break;
    size_t end = off + ((top->size + 15) & ~uint64_t{15});
    // Only when it is the buffer's last block (another thread may have cut one after it).
    if (!g_boot_used.compare_exchange_strong(end, top->prev_end, std::memory_order_relaxed)) break;
    g_load_n--;
  }
}

void* boot_serve(const Req& r, bool may_fail = false) {
  size_t align = r.op == kOpAligned ? r.align : 16;
  void* p = boot_alloc(r.size, align, r.op == kOpCalloc, may_fail);
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
  bool cacheable, by_stack;
  const SitePlan* plan = plan_for_site(ts, ra, pol, &cacheable, &by_stack);
  // Tracking: never cached.  st_busy: a signal handler interrupted the stack path, which
  // is reading or writing this slot.
  SiteSlot& s = ts.cache[site_hash(ra)];
  if ((cacheable || by_stack) && !g_track && !s.st_busy) {
    disarm(s);  // a stack site stays disarmed (arm_direct does not find its key)
    s.heap = nullptr;
    s.st_span = 0;  // no fast entry yet
    s.plan = cacheable ? plan : &pol->plan;
    s.ra = cacheable ? ra : stack_key(ra);
  }
  return plan;
}

// This thread's heap of a tier that has an arena (not a transient one), made on first use;
// nullptr if there is none.
mi_heap_t* heap_of(ThreadState& ts, int tier) {
  mi_heap_t* h = ts.heap[tier];
  if (!h) {
    mi_arena_id_t id;
    if (!arena_of(tier, &id)) return nullptr;
    ts.in_boot++;
    h = mi_heap_new_in_arena(id);
    ts.in_boot--;
    ts.heap[tier] = h;
  }
  return h;
}

// Arms the slot of ra (when it holds plan) for the hot path's direct route: for every
// interface whose first size interval goes to the same tier as api's, sizes below that
// interval's bound go to this thread's heap of that tier, if the thread has one: a site
// whose first allocation went elsewhere (a large block first) is armed at its first
// allocation from that tier instead, so that one allocation makes one tier's arena and heap,
// not two (issue 7).  A transient tier has no heap: not armed.  Slow path only.
void arm_direct(ThreadState& ts, uintptr_t ra, const SitePlan* plan, uint32_t api) {
  SiteSlot& s = ts.cache[site_hash(ra)];
  if (g_track || s.ra != ra || s.plan != plan) return;  // not cached (or tracking)
  unsigned tier = plan->api[api_index(api)].tier[0];
  const CompiledPolicy* pol = policy();
  if (!pol || (tier > 0 && pol->tiers[tier].transient)) return;
  mi_heap_t* h = ts.heap[tier];
  if (!h) return;
  s.heap = h;
  // The interval after the first (api's), when it goes to another tier that has an arena and
  // whose heap this thread already has: the slot's split route (tier3).  A heap made only
  // for it would cost the thread a heap struct for a tier it may never use; the first
  // allocation there takes the slow path, which makes the heap and comes back here.
  const ApiPlan& own = plan->api[api_index(api)];
  int t3 = -1;
  if (own.nbounds && own.tier[1] != tier && ts.heap[own.tier[1]] &&
      !(own.tier[1] > 0 && pol->tiers[own.tier[1]].transient))
    t3 = own.tier[1];
  if (t3 >= 0) {
    // Written before any span3 that sends sizes to it, and never reset (see SiteSlot).
    s.tier3 = static_cast<uint8_t>(t3);
    s.third = ts.heap[t3];
    std::atomic_signal_fence(std::memory_order_seq_cst);
  }
  for (int a = 0; a < kApiCount - 1; ++a) {
    const ApiPlan& ap = plan->api[a];
    unsigned n = ap.nbounds;
    uint64_t lim = ap.tier[0] != tier ? 0 : n ? ap.bound[0] : UINT64_MAX;
    // The split route: [lo3, hi3) the interval where the first route ends (the first when
    // lim is 0), when it is tier3's, then the next interval when it is tier's (neighbouring
    // intervals never share a tier: build_api_plans merges them).
    uint64_t lo3 = 0, hi3 = 0, end = 0;
    unsigned j = lim == 0 ? 0 : 1;
    if (t3 >= 0 && lim < kRouteEnd && j <= n && ap.tier[j] == t3) {
      lo3 = lim;
      hi3 = j < n ? ap.bound[j] : UINT64_MAX;
      end = hi3;
      if (j + 1 <= n && ap.tier[j + 1] == tier) end = j + 1 < n ? ap.bound[j + 1] : UINT64_MAX;
    }
    // Every route ends at kRouteEnd: with the inlined pop (MI_SMALL_SIZE_MAX + 1), malloc's
    // pop then needs no size check of its own (two instructions on every hit), and a
    // larger size takes lim_full or the plan.
    s.lim_full[a] = static_cast<uint32_t>(lim < UINT32_MAX ? lim : UINT32_MAX);
#if TM_INLINE_POP
    if (lim > kRouteEnd) lim = kRouteEnd;
#endif
    if (end > kRouteEnd) end = kRouteEnd;
    if (hi3 > kRouteEnd) hi3 = kRouteEnd;
    // A split interface's first route is the split route's: lim 0, so that its first
    // branch is never taken (a branch taken for some sizes only is the cost it avoids).
    s.lim[a] = end ? 0 : lim;
    s.lo3[a] = static_cast<uint16_t>(lo3);
    s.span3[a] = static_cast<uint16_t>(hi3 - lo3);
    s.end[a] = static_cast<uint16_t>(end);
  }
}

void* try_tier(ThreadState& ts, int tier, const Req& r) {
  const CompiledPolicy* pol = policy();
  if (pol && tier > 0 && pol->tiers[tier].transient) {
    // File-backed: its own mapping per block, fresh (so zeroed) from the file.
    if (r.op == kOpAligned && r.align > 4096) {
      g_totals.fallback_alignment[tier].fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    void* p = transient_alloc(ts, tier, r.size);
    if (p && r.op == kOpRealloc) {
      size_t old = mi_usable_size(r.old);
      std::memcpy(p, r.old, old < r.size ? old : r.size);
      release(r.old);
    }
    return p;
  }
  mi_heap_t* h = heap_of(ts, tier);
  return h ? heap_op(h, r) : nullptr;
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

// An allocation's counts and, while tracking, its record.  A realloc whose old block had a
// record (old_rec, in slot old_slot) counts as that block's free and a new allocation.
static void count_alloc(ThreadState& ts, void* p, size_t size, uintptr_t ra, uint32_t api, int tier, int rule,
                        const TrackRec* old_rec, int old_slot) {
  ts.allocs[tier]++;
  ts.bytes[tier] += size;
  if (!g_track) return;
  if (old_rec) {
    ts.frees[old_slot]++;
    track_freed(*old_rec);
  }
  track_alloc(p, size, ra, api, tier, rule);
}

void* alloc_slow(size_t size, uintptr_t ra, uint32_t api, Op op, size_t align, void* old) {
  // A size no allocation can have (glibc's limit, PTRDIFF_MAX) fails here, before the site
  // is resolved: it does not exhaust a tier (no warning, no on_exhausted: abort), and the
  // relayed request of a nothrow new (exports.cpp, SIZE_MAX) leaves no site behind.
  if (TM_UNLIKELY(size > static_cast<size_t>(PTRDIFF_MAX))) {
    errno = ENOMEM;
    return nullptr;
  }
  const Req r{size, align, old, ra, api, op};
  ThreadState& ts = t_state;
  if (ts.in_boot) return boot_serve(r);
  if (TM_UNLIKELY(loading(ts))) {
    if (r.size <= kLoadMax)
      if (void* p = boot_serve(r, /*may_fail=*/true)) return p;
    g_load_heap++;  // too large, or the buffer is full: the plain heap
  }
  if (g_track) track_poll();
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
    void* p = own_aligned_alloc(ts, tier, r.size, r.align);
    if (!p) errno = ENOMEM;
    else errno = saved_errno;
    if (p && g_track) track_alloc(p, r.size, r.ra, r.api, tier, rule);
    return p;
  }
  // While tracking, every realloc comes here: the old block's record leaves the table
  // before mimalloc may reuse its address, and goes back if the realloc fails.
  TrackRec old_rec;
  bool had_old = false;
  if (g_track && r.op == kOpRealloc) {
    if (((reinterpret_cast<uintptr_t>(r.old) - g_base) >> g_shift) != static_cast<unsigned>(tier)) {
      errno = saved_errno;
      return realloc_move(r.old, r.size, r.ra);  // as the hot path: another tier's size moves
    }
    had_old = track_take(r.old, &old_rec);
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
    if (had_old) track_put_back(r.old, old_rec);
    errno = ENOMEM;
    return nullptr;
  }
  arm_direct(ts, r.ra, plan, r.api);
  count_alloc(ts, p, r.size, r.ra, r.api, placed, rule, had_old ? &old_rec : nullptr,
              static_cast<int>((reinterpret_cast<uintptr_t>(r.old) - g_base) >> g_shift));
  errno = saved_errno;
  return p;
}

void load_begin() {
  ThreadState* expected = nullptr;
  g_load_start = g_load_high = g_boot_used.load(std::memory_order_relaxed);
  g_load_ts.compare_exchange_strong(expected, &t_state, std::memory_order_relaxed);
}

void load_end() {
  if (!loading(t_state)) return;
  g_load_ts.store(nullptr, std::memory_order_relaxed);
  if (diag::level() >= diag::kDebug) {
    diag::Line l;
    l.s("policy loading: ").i(g_load_served).s(" allocations of ").i(static_cast<int64_t>(g_load_bytes))
        .s(" bytes in the bootstrap buffer (at most ")
        .i(static_cast<int64_t>(g_load_high - g_load_start)).s(" bytes, ")
        .i(static_cast<int64_t>(g_boot_used.load(std::memory_order_relaxed) - g_load_start))
        .s(" still live), ").i(g_load_heap).s(" on the plain heap");
    diag::emit(diag::kDebug, l);
  }
  // Decommit what the loading used above its blocks still live (they stay: a string kept
  // for later, a nested set-up allocation): reserved for the while, so that no other thread
  // cuts a block there meanwhile.
  const uintptr_t base = reinterpret_cast<uintptr_t>(g_boot_buf);
  size_t cur = g_boot_used.load(std::memory_order_relaxed);
  uintptr_t lo = (base + cur + 4095) & ~uintptr_t{4095};
  uintptr_t hi = (base + g_load_high + 4095) & ~uintptr_t{4095};
  uintptr_t top = (base + kBootBytes) & ~uintptr_t{4095};  // the page after is another variable's
  if (hi > top) hi = top;
  if (hi <= lo || !g_boot_used.compare_exchange_strong(cur, hi - base, std::memory_order_relaxed)) return;
  syscall(SYS_madvise, reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
  size_t h = hi - base;
  g_boot_used.compare_exchange_strong(h, cur, std::memory_order_relaxed);
}

bool load_pause() {
  if (!loading(t_state)) return false;
  g_load_ts.store(nullptr, std::memory_order_relaxed);
  return true;
}

void load_resume(bool paused) {
  if (paused) g_load_ts.store(&t_state, std::memory_order_relaxed);
}

void free_slow(void* p) {
  if (g_track) {
    // Every free while tracking (g_free_total is 0).  A block allocated before tracking
    // began has no record and is not counted: the figures cover the blocks they saw born.
    TrackRec rec;
    if (owned(p)) {
      uintptr_t slot = (reinterpret_cast<uintptr_t>(p) - g_base) >> g_shift;
      if (track_take(p, &rec)) {
        t_state.frees[slot]++;
        track_freed(rec);
      }
      mi_free(p);
      return;
    }
    if (p && !boot_owns(p) && track_take(p, &rec)) track_freed(rec);  // our own mappings
  }
  if (!p) return;
  if (boot_owns(p)) {
    boot_free(p);
    return;
  }
  if (own_free(p)) return;
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
  return p ? own_size(p) : 0;
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
  int t = own_tier(p);
  return t >= 0 ? t : mmap_tier_of(p);
}

void* realloc_foreign(void* p, size_t size, uintptr_t ra) {
  if (boot_owns(p)) {
    void* q = allocate<kOpMalloc>(size, ra, kApiRealloc);
    if (q) {
      size_t old = boot_size(p);
      std::memcpy(q, p, old < size ? old : size);
      boot_free(p);
    }
    return q;
  }
  if (int tier = own_transient_tier(p); tier > 0 && size) {
    // A transient block whose new size still goes to its tier: resize the file in place.
    ThreadState& ts = t_state;
    if (!ts.in_boot && ts.phase != kActive) thread_attach(ts);
    int rule = -1;
    if (!ts.in_boot && resolve_site(ts, ra)->tier_for(size, kApiRealloc, &rule) == tier) {
      TrackRec rec;
      bool had = g_track && track_take(p, &rec);
      if (void* q = transient_resize(p, size)) {
        count_alloc(ts, q, size, ra, kApiRealloc, tier, rule, had ? &rec : nullptr, tier);
        return q;
      }
      if (had) track_put_back(p, rec);
    }
  }
  if (size_t old = own_size(p)) {
    // A block of our own mapping (big alignment, transient): move it where its new size goes.
    void* q = allocate<kOpMalloc>(size, ra, kApiRealloc);
    if (q) {
      std::memcpy(q, p, old < size ? old : size);
      free_slow(p);
    }
    return q;
  }
  free_slow(p);  // reports it
  errno = ENOMEM;
  return nullptr;
}

}  // namespace tiermalloc::rt
