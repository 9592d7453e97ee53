// SPDX-License-Identifier: MIT
// interpose/runtime.hpp -- the allocation hot path and the state it reads.
//
// Hot path (a call site this thread has seen): hash the return address into the thread's
// site cache; a size in one of the slot's routes for the interface it was armed for goes
// straight to the heap the route holds (malloc below the first bound: 21 instructions with
// mimalloc's pop, against Debian's mimalloc's 15; a site split over two tiers by size: 28,
// branch-free between the two; free: 25, as mimalloc's); any other asks the site's plan for a tier (a few
// compares per rule) and takes the thread's mimalloc heap for that tier.  No lock, no system
// call, nothing allocated of our own.  Everything else -- first use of a thread or a site, a missing heap, an exhausted
// tier, boot -- is alloc_slow() in runtime.cpp.
//
// Memory layout: one address-space reservation holds one slot per tier (slot i at
// g_base + i << g_shift); each slot is a mimalloc arena, mbind'ed to the tier's nodes, that
// only that tier's heaps allocate from.  So "is this pointer ours, and which tier?" is a
// subtraction, a compare and a shift -- and no pointer from another allocator reaches mi_free.
#pragma once
#include <mimalloc.h>
// Its internal header, for the small-block pop inlined into malloc below: the mimalloc we
// build with is pinned (Debian's 2.0.9 source, statically linked).
#include <mimalloc-internal.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "interpose/defines.hpp"
#include "policy/compiled.hpp"

// The inlined pop and local free match mimalloc's _mi_page_malloc and mi_free only in its
// release configuration.  (MI_PADDING, not MI_PADDING_SIZE: the latter is a sizeof when set,
// which the preprocessor cannot evaluate.)
#if MI_DEBUG == 0 && MI_SECURE == 0 && !(defined(MI_PADDING) && MI_PADDING) && !defined(MI_ENCODE_FREELIST) && MI_STAT == 0 && \
    !MI_TRACK_ENABLED
#define TM_INLINE_POP 1
#else
#define TM_INLINE_POP 0
#endif

namespace tiermalloc::rt {

inline constexpr int kSiteCache = 64;  // per-thread direct-mapped call-site cache

/** One entry of a thread's call-site cache (two cache lines; a size below its interface's
 *  first bound reads only the first).  `ra` is the key; `plan` decides any size and
 *  interface.  The direct route: a size below lim[k] (k = the interface's api_index) goes
 *  straight to `heap`, the thread's heap of the tier the plan gives the interface's first
 *  size interval.  A site split over two tiers by size (the usual shape: a default tier with
 *  a rule carving out a range: policy (b)'s messages site, 16..512 B, goes to its default
 *  tier below 32 B and from 128 B on, to its rule's tier from 32 to 127 B) takes its split
 *  route instead, with lim[k] 0: a size below end[k] goes to `heap`, unless it lies in
 *  [lo3[k], lo3[k] + span3[k]), the interval of the second tier (`third`, the thread's heap
 *  of tier3), chosen by a conditional move: sizes drawn in no order the branch predictor can
 *  learn cost a mispredicted branch per allocation on a branch between the two (issue 7:
 *  prodcons 1.06x of mimalloc's CPU with branches, 1.01x without).  [0, end) is the first
 *  interval, the second tier's and the first tier's next, as far as they are contiguous;
 *  one tier3 per slot (the arming interface's), span3 and end 0 for an interface whose
 *  intervals are not that shape; armed only when the thread has tier3's heap already.
 *  With the inlined pop (TM_INLINE_POP) these routes end at MI_SMALL_SIZE_MAX
 *  (arm_direct clamps the bounds), so malloc's pop needs no size check; a larger size is
 *  checked against the first interval's own bound (lim_full) and otherwise asks the plan.  No plan, no tier
 *  lookup on the way to mimalloc's pop.  One bound set per interface, since one return
 *  address can reach several entry points (calls through a function pointer) whose plans
 *  differ; an interface whose first interval goes to another tier
 *  keeps lim 0.  Armed by the slow path (arm_direct); disarm() (a fresh slot) sends every
 *  size to the plan.  `heap` is only ever this thread's own: every slot is cleared before
 *  the thread's heaps are deleted (thread exit), and a slot whose ra is cleared
 *  (forget_sites, tracking start) is armed afresh on its next miss. */
struct alignas(64) SiteSlot {
  uintptr_t ra;
  mi_heap_t* heap;
  uint64_t lim[kApiCount - 1];    // by api_index; kApiMmap has no slot
  const SitePlan* plan;
  // Second line: the split route, which ends at kRouteEnd (beyond, the plan).
  uint16_t lo3[kApiCount - 1];    // [lo3, lo3 + span3) goes to `third`
  uint16_t span3[kApiCount - 1];
  uint16_t end[kApiCount - 1];    // [0, end) is the split route's (0: none)
  uint8_t tier3;                  // the tier of `third`
  uint8_t st_busy;                // stack site's slot: see below
  // A direct slot's lim_full, or a stack site's fast entry: a slot is one or the other.
  // A stack site's slot (key stack_key(site): never a return address, so the hot path's key
  // compare sends it on, with no other check) holds its fast entry instead of the direct
  // route (lim, lo2, span2, hi3 stay 0; plan is the site-free plan, for a reader that met
  // the slot torn by a signal handler -- such a reader may also read the entry as lim_full,
  // which is why that route checks its heap): the last one- or two-frame stack recorded at
  // the site, with the heap (in `heap`) of the tier its plan gives interface st_api's sizes
  // in [st_lo, st_lo + st_span).  The stack matches when the caller's return address, at
  // (rbp or the rsp at the stack path's entry) + st_off, is st_pc1.  Read and written with
  // st_busy set (sites.cpp): a signal handler that allocates meanwhile leaves the slot as
  // it is (slow path).  st_span 0: no entry.  disarm() zeroes the entry with lim_full.
  union {
    uint32_t lim_full[kApiCount - 1];  // lim before the clamp (TM_INLINE_POP), at most 4 GiB - 1
    struct {
      uintptr_t st_pc1;
      uint32_t st_lo;
      uint32_t st_span;
      int32_t st_off;
      uint8_t st_api;
      uint8_t st_rbp;             // 1: st_off is from rbp, 0: from the entry's rsp
    };
  };
  // The thread's heap of tier3.  Never reset to null once set (only cleared with the whole
  // cache at thread exit): the split route reads span3 before it (one asm statement), so
  // a reader interrupted by a signal handler that re-arms the slot meets a non-null heap
  // wherever the span3 it read came from.
  mi_heap_t* third;
};
static_assert(sizeof(SiteSlot) == 128, "a slot is two cache lines");
/** The key of a stack site's slot: no return address (user space, below 2^63) is one. */
TM_FAST_PATH uintptr_t stack_key(uintptr_t ra) { return ~ra; }
static_assert(offsetof(SiteSlot, plan) < 64, "ra, heap, lim and plan share the first line");
static_assert(sizeof(SiteSlot::lim_full) <= 24, "lim_full lies within the stack entry it shares room with");
static_assert(api_index(kApiMmap) == kApiCount - 1, "mmap is the last interface");

/** Where the slot's routes end (arm_direct clamps their bounds): MI_SMALL_SIZE_MAX + 1 with
 *  the inlined pop, which then needs no size check; otherwise what 16 bits hold. */
inline constexpr uint64_t kRouteEnd = TM_INLINE_POP ? MI_SMALL_SIZE_MAX + 1 : UINT16_MAX;
static_assert(MI_SMALL_SIZE_MAX + 1 <= UINT16_MAX, "the slot's routes end within 16 bits");
static_assert(offsetof(SiteSlot, third) == 120, "third lies in the second line, after the stack entry");

TM_FAST_PATH void disarm(SiteSlot& s) {
  for (uint64_t& l : s.lim) l = 0;
  for (uint16_t& n : s.span3) n = 0;
  for (uint16_t& n : s.end) n = 0;
  for (uint32_t& n : s.lim_full) n = 0;
}

enum Phase : uint8_t { kUnattached = 0, kActive = 1, kExited = 2 };

/** Per-thread state, in static TLS (initial-exec): zero-initialised, so a new thread's
 *  empty cache and null heaps send its first allocation down the slow path. */
struct ThreadState {
  SiteSlot cache[kSiteCache];
  mi_heap_t* heap[kMaxTiers];
  // Counted by the slow path only: statistics are collected while tracking (g_track), when
  // every allocation and free takes the slow path; the hot path counts nothing.
  uint64_t allocs[kMaxTiers];
  uint64_t bytes[kMaxTiers];       // requested bytes, cumulative
  uint64_t frees[kMaxTiers];
  uint8_t phase;
  uint8_t in_boot;                 // >0: this thread is inside our own set-up; nested
                                   //     allocations take the bootstrap buffer
  uint8_t exits;                   // times the thread-exit destructor ran
  uint8_t registered;              // in the registry (first life only)
  uint8_t in_resolve;              // >0: naming a call site (sites.cpp)
  ThreadState* next;               // registry of live threads (for statistics)
  ThreadState* prev;
};

// constinit: no TLS init wrapper (_ZTH) on the hot path.
extern constinit thread_local ThreadState t_state __attribute__((tls_model("initial-exec")));

// The tier slots.  g_total is 0 until the reservation exists, so before boot every pointer
// is "not ours" and takes the slow path (which knows the bootstrap buffer).
extern uintptr_t g_base;
extern uintptr_t g_total;
extern unsigned g_shift;
/** What release() compares with: g_total, or 0 while statistics or a profile are collected
 *  (g_track), so that every free takes free_slow, which knows the block's size and site. */
extern uintptr_t g_free_total;
/** Slot -> tier: the identity, except slots holding an `initiator: thread` tier's views. */
extern uint8_t g_slot_tier[kMaxTiers];

enum Op : uint8_t { kOpMalloc, kOpCalloc, kOpAligned, kOpRealloc };

struct Req {
  size_t size;       // effective size: calloc's product, realloc's new size
  size_t align;      // kOpAligned only
  void* old;         // kOpRealloc only: a pointer of ours
  uintptr_t ra;      // call site
  uint32_t api;      // Api bit
  Op op;
};

/** Slow path: set-up, site resolution, fallback chains, errno.  NULL means ENOMEM.
 *  Arguments travel in registers (no Req built on the fast path's stack). */
TM_SLOW_PATH void* alloc_slow(size_t size, uintptr_t ra, uint32_t api, Op op, size_t align, void* old);
/** What an operator new adds to malloc's contract: on NULL, the new-handler loop, then
 *  bad_alloc (kNewThrow) or NULL (kNewNothrow).  A template argument of the hot path (and
 *  of the stack path), so that operator new reaches the stack path by a tail call, like
 *  malloc: its fast entry is only read in the frame the call site's call made. */
enum NewKind : uint8_t { kNotNew = 0, kNewThrow = 1, kNewNothrow = 2 };
/** operator new's way when an allocation returned NULL (exports.cpp). */
TM_SLOW_PATH void* new_failed(size_t n, size_t align, uintptr_t ra, bool nothrow);
template <NewKind kNew>
TM_FAST_PATH void* new_result(void* p, size_t n, uintptr_t ra) {
  if constexpr (kNew == kNotNew) return p;
  else return TM_LIKELY(p != nullptr) ? p : new_failed(n, 0, ra, kNew == kNewNothrow);
}
}  // namespace tiermalloc::rt
// Assembly trampolines (sites.cpp): they pass the caller's stack pointer and rbp on.
extern "C" __attribute__((visibility("hidden"))) void* tm_alloc_stack_malloc(size_t size, uintptr_t ra, uint32_t api);
extern "C" __attribute__((visibility("hidden"))) void* tm_alloc_stack_calloc(size_t size, uintptr_t ra, uint32_t api);
extern "C" __attribute__((visibility("hidden"))) void* tm_alloc_stack_new(size_t size, uintptr_t ra, uint32_t api);
extern "C" __attribute__((visibility("hidden"))) void* tm_alloc_stack_new_nothrow(size_t size, uintptr_t ra, uint32_t api);
extern "C" __attribute__((visibility("hidden"))) void* tm_alloc_stack_aligned(size_t size, uintptr_t ra, uint32_t api, size_t align);
extern "C" __attribute__((visibility("hidden"))) void* tm_alloc_stack_realloc(size_t size, uintptr_t ra, uint32_t api, void* old);
namespace tiermalloc::rt {
/** A site whose tier depends on its callers (a stack rule may apply, or a wrapper): its
 *  cache slot's key is stack_key(site), and the hot path tail-calls alloc_stack's
 *  trampoline (sites.cpp), which finds the plan from the slot's fast entry, the thread's
 *  recorded stacks or the fast stack walk.  Every other miss of the cache goes the same way
 *  to alloc_slow. */
template <Op kOp, NewKind kNew = kNotNew>
TM_FAST_PATH void* alloc_stack(size_t size, uintptr_t ra, uint32_t api, size_t align, void* old) {
  static_assert(kNew == kNotNew || kOp == kOpMalloc, "operator new's stack path: the malloc form only");
  if constexpr (kNew == kNewThrow) return tm_alloc_stack_new(size, ra, api);
  else if constexpr (kNew == kNewNothrow) return tm_alloc_stack_new_nothrow(size, ra, api);
  else if constexpr (kOp == kOpMalloc) return tm_alloc_stack_malloc(size, ra, api);
  else if constexpr (kOp == kOpCalloc) return tm_alloc_stack_calloc(size, ra, api);
  else if constexpr (kOp == kOpAligned) return tm_alloc_stack_aligned(size, ra, api, align);
  else return tm_alloc_stack_realloc(size, ra, api, old);
}
/** NULL, bootstrap-buffer and foreign pointers. */
TM_SLOW_PATH void free_slow(void* p);
TM_SLOW_PATH size_t usable_slow(const void* p);
/** realloc of a pointer that is not in our arenas (bootstrap buffer, or foreign). */
TM_SLOW_PATH void* realloc_foreign(void* p, size_t size, uintptr_t ra);
/** realloc whose new size belongs on another tier: allocate there, copy, free. */
TM_SLOW_PATH void* realloc_move(void* p, size_t size, uintptr_t ra);
/** Tier of a block or mapping that is not in the arenas (big-aligned, placed mmap), or -1. */
int tier_of_slow(const void* p);

TM_FAST_PATH bool owned(const void* p) {
  return reinterpret_cast<uintptr_t>(p) - g_base < g_total;
}

// The site hash's multiplier, also written into the stack path's trampolines (sites.cpp).
#define TM_SITE_HASH_MUL 0x9E3779B1
TM_FAST_PATH unsigned site_hash(uintptr_t ra) {
  // Multiplicative hash of the address's low 32 bits (a 32-bit multiply takes its constant
  // as an immediate): the top 6 bits of the product.
  return (static_cast<uint32_t>(ra) * uint32_t{TM_SITE_HASH_MUL}) >> (32 - 6);
}
static_assert(kSiteCache == 64, "site_hash yields 6 bits");
#define TM_RT_STR_(x) #x
#define TM_RT_STR(x) TM_RT_STR_(x)
static_assert(sizeof(SiteSlot) == 128 && offsetof(ThreadState, cache) == 0,
              "allocate's asm: slot = &t_state + (hash >> 26) * 128");


/** malloc's way on when the inlined pop cannot serve (no free block in the size's page, or
 *  more than 1 KiB): mimalloc's generic path (_mi_malloc_generic, called directly as its own
 *  malloc does, not mi_heap_malloc, which would try the pop again), then, on NULL, the slow
 *  path.  Out of line and reached by a tail call, so that malloc itself saves no registers. */
__attribute__((noinline)) void* heap_malloc_or_slow(mi_heap_t* h, size_t size, uintptr_t ra, uint32_t api);
#if TM_INLINE_POP
void* tm_mi_malloc_generic(mi_heap_t* heap, size_t size, bool zero, size_t huge_alignment) noexcept
    __asm__("_mi_malloc_generic");
#endif

/** Aligned allocation.  mimalloc 2.0.9's mi_heap_malloc_aligned serves a power-of-two size up
 *  to 1 KiB straight from its size class, assuming such blocks are naturally aligned; blocks
 *  of 256..1024 B are not always (aligned_alloc(256, 1024) returned an address ending in
 *  0x180).  Up to 16 B every block is aligned; above, the _at variant checks the block it
 *  takes (and over-allocates when it must). */
TM_FAST_PATH void* heap_aligned(mi_heap_t* h, size_t size, size_t align) {
  if (align <= 16) return mi_heap_malloc_aligned(h, size, align);
  return mi_heap_malloc_aligned_at(h, size, align, 0);
}

TM_FAST_PATH void* heap_op(mi_heap_t* h, const Req& r) {
  switch (r.op) {
    case kOpMalloc: return mi_heap_malloc(h, r.size);
    case kOpCalloc: return mi_heap_zalloc(h, r.size);
    case kOpAligned: return heap_aligned(h, r.size, r.align);
    case kOpRealloc: return mi_heap_realloc(h, r.old, r.size);
  }
  return nullptr;
}

/** Allocation from a heap of this thread (never null); the slow path when it cannot.
 *  kSmall: the size is known to be at most MI_SMALL_SIZE_MAX (the slot's direct routes). */
template <Op kOp, bool kSmall = false>
TM_FAST_PATH void* from_heap(mi_heap_t* h, size_t size, uintptr_t ra, uint32_t api, size_t align, void* old) {
#if TM_INLINE_POP
  if constexpr (kOp == kOpMalloc) {
    // mimalloc's own fast path (_mi_page_malloc): pop the page's free list.
    if (kSmall || TM_LIKELY(size <= MI_SMALL_SIZE_MAX)) {
      mi_page_t* page = _mi_heap_get_free_small_page(h, size);
      mi_block_t* b = page->free;
      if (TM_LIKELY(b != nullptr)) {
        page->used++;
        page->free = mi_block_next(page, b);
        return b;
      }
    }
    return heap_malloc_or_slow(h, size, ra, api);
  }
#endif
  void* p;
  if constexpr (kOp == kOpMalloc) p = mi_heap_malloc(h, size);
  else if constexpr (kOp == kOpCalloc) p = mi_heap_zalloc(h, size);
  else if constexpr (kOp == kOpAligned) p = heap_aligned(h, size, align);
  else p = mi_heap_realloc(h, old, size);
  if (TM_LIKELY(p != nullptr)) return p;
  return alloc_slow(size, ra, api, kOp, align, old);
}

/** Any size and interface through a plan: the thread's heap of the tier it gives (a realloc
 *  whose new size belongs to another tier moves the block: mimalloc would resize it in
 *  place); the slow path when the thread has no heap there yet.  The hot path's route past
 *  the slot's direct one, and the stack path's once a stack has given the plan. */
template <Op kOp>
TM_FAST_PATH void* from_plan(const SitePlan* plan, size_t size, uintptr_t ra, uint32_t api, size_t align, void* old) {
  unsigned tier = plan->api[api_index(api)].tier_of(size);
  if constexpr (kOp == kOpRealloc) {
    if (TM_UNLIKELY(((reinterpret_cast<uintptr_t>(old) - g_base) >> g_shift) != tier))
      return realloc_move(old, size, ra);
  }
  mi_heap_t* h = t_state.heap[tier];
  if (TM_LIKELY(h != nullptr)) return from_heap<kOp>(h, size, ra, api, align, old);
  return alloc_slow(size, ra, api, kOp, align, old);
}

/** The hot path; the operation is a template argument so each entry point compiles to
 *  straight-line code.  ra -> slot -> (direct route) heap -> pop; other sizes and interfaces
 *  ask the slot's plan for the tier.  kNew: operator new's NULL handling, done here (and on
 *  the stack path) so that the stack path is a tail call. */
template <Op kOp, NewKind kNew = kNotNew>
TM_FAST_PATH void* allocate(size_t size, uintptr_t ra, uint32_t api, size_t align = 0, void* old = nullptr) {
  // The slot, t_state.cache[site_hash(ra)], is read where it lies in static TLS: at fs:(so +
  // tp), so = its offset in t_state (the hash, three instructions), tp = t_state's TLS offset
  // (one load, independent of ra).  Its address (fs:0 + tp + so: two instructions more, and
  // one more step before the key's load, as the stack path's trampolines compute it,
  // sites.cpp TM_SLOT_TO_RCX) is only formed on the ways past the split route.  Every read of
  // the slot is an asm statement (GCC has no fs-relative operands in C++), volatile and with
  // a memory clobber: it reads what the slow path wrote, and must not be merged with an
  // earlier read or moved across a call.
  uintptr_t so, tp;
  bool hit;
  __asm__ volatile("imul $" TM_RT_STR(TM_SITE_HASH_MUL) ", %k[ra], %k[so]\n\t"
                   "shr $26, %k[so]\n\t"
                   "shl $7, %[so]\n\t"
                   "mov _ZN10tiermalloc2rt7t_stateE@gottpoff(%%rip), %[tp]\n\t"
                   "cmp %%fs:(%[so],%[tp]), %[ra]"
                   : [so] "=&r"(so), [tp] "=&r"(tp), "=@cce"(hit)
                   : [ra] "r"(ra)
                   : "memory");
// A field of the slot as an asm operand pair, read as %%fs:%c[oNAME](%[bNAME],%[tp]): the
// field's offset as a constant where the optimiser has made the interface one (always: every
// entry point passes a constant), else (-O0) added to the base.
#ifdef __OPTIMIZE__
#define TM_SLOT_FIELD(name, off) [o##name] "i"(off), [b##name] "r"(so)
#else
#define TM_SLOT_FIELD(name, off) [o##name] "i"(0), [b##name] "r"(so + (off))
#endif
  if (TM_LIKELY(hit)) {
    if constexpr (kOp != kOpRealloc) {
      const int k = api_index(api);
      mi_heap_t* direct;
      bool below;
      __asm__ volatile("mov %%fs:%c[oheap](%[bheap],%[tp]), %[h]\n\t"
                       "cmp %%fs:%c[olim](%[blim],%[tp]), %[size]"
                       : [h] "=&r"(direct), "=@ccb"(below)  // early-clobber: written before size is read
                       : [tp] "r"(tp), [size] "r"(size), TM_SLOT_FIELD(heap, offsetof(SiteSlot, heap)),
                         TM_SLOT_FIELD(lim, offsetof(SiteSlot, lim) + sizeof(uint64_t) * k)
                       : "memory");
      if (TM_LIKELY(below))
        return new_result<kNew>(from_heap<kOp, TM_INLINE_POP != 0>(direct, size, ra, api, align, old), size, ra);
      // A split site (lim 0): `third` for [lo3, lo3 + span3), `heap` for the rest of
      // [0, end), by a conditional move.  16-bit arithmetic: it decides only sizes below
      // end, which is at most kRouteEnd.
      mi_heap_t* h = direct;  // `direct` itself: no copy kept (the lim_full route reloads it)
      uint64_t t;
      uint64_t end;  // written as 32 bits (zero-extended): no extension left to GCC
      __asm__ volatile("mov %[size], %[t]\n\t"
                       "sub %%fs:%c[olo](%[blo],%[tp]), %w[t]\n\t"
                       "cmp %%fs:%c[osp](%[bsp],%[tp]), %w[t]\n\t"
                       "cmovb %%fs:%c[oth](%[bth],%[tp]), %[h]\n\t"
                       "movzwl %%fs:%c[oend](%[bend],%[tp]), %k[end]"
                       : [h] "+r"(h), [t] "=&r"(t), [end] "=r"(end)
                       : [tp] "r"(tp), [size] "r"(size),
                         TM_SLOT_FIELD(lo, offsetof(SiteSlot, lo3) + sizeof(uint16_t) * k),
                         TM_SLOT_FIELD(sp, offsetof(SiteSlot, span3) + sizeof(uint16_t) * k),
                         TM_SLOT_FIELD(th, offsetof(SiteSlot, third)),
                         TM_SLOT_FIELD(end, offsetof(SiteSlot, end) + sizeof(uint16_t) * k)
                       : "cc", "memory");
      if (TM_LIKELY(size < end))
        return new_result<kNew>(from_heap<kOp, TM_INLINE_POP != 0>(h, size, ra, api, align, old), size, ra);
#if TM_INLINE_POP
      // Above the clamp (so above MI_SMALL_SIZE_MAX: no pop): the first interval's own bound.
      // `direct` checked: a stack site's slot keeps its fast entry where lim_full lies, and a
      // reader that met the slot re-keyed by a signal handler must not take it for a bound.
      // The heap read again (GCC would otherwise keep a copy of `direct` across the split
      // route, an instruction on every split allocation).
      uint64_t lim_full;  // 32 bits, zero-extended
      __asm__ volatile("mov %%fs:%c[oheap](%[bheap],%[tp]), %[h]\n\t"
                       "mov %%fs:%c[ofull](%[bfull],%[tp]), %k[lf]"
                       : [h] "=&r"(direct), [lf] "=r"(lim_full)
                       : [tp] "r"(tp), TM_SLOT_FIELD(heap, offsetof(SiteSlot, heap)),
                         TM_SLOT_FIELD(full, offsetof(SiteSlot, lim_full) + sizeof(uint32_t) * k)
                       : "memory");
      if (size < lim_full && direct != nullptr) {
        if constexpr (kOp == kOpMalloc) return new_result<kNew>(heap_malloc_or_slow(direct, size, ra, api), size, ra);
        else return new_result<kNew>(from_heap<kOp>(direct, size, ra, api, align, old), size, ra);
      }
#endif
    }
    const SitePlan* plan;
    __asm__ volatile("mov %%fs:%c[oplan](%[bplan],%[tp]), %[p]"
                     : [p] "=r"(plan)
                     : [tp] "r"(tp), TM_SLOT_FIELD(plan, offsetof(SiteSlot, plan))
                     : "memory");
    return new_result<kNew>(from_plan<kOp>(plan, size, ra, api, align, old), size, ra);
  }
#undef TM_SLOT_FIELD
  // Any other key: a stack site's (stack_key: decided by its callers), or a miss.  Both out
  // of line through the stack path's trampoline (a tail call), which tells them apart when
  // it reads the slot (a compare here cost the direct route an instruction) and hands a
  // miss to alloc_slow.
  return alloc_stack<kOp, kNew>(size, ra, api, align, old);
}

#if TM_INLINE_POP
// mimalloc functions its internal header declares without C linkage when included from C++:
// declared again under their C symbol names.
void tm_mi_page_retire(mi_page_t* page) noexcept __asm__("_mi_page_retire");
void tm_mi_free_generic(const mi_segment_t* segment, mi_page_t* page, bool is_local, void* p) noexcept
    __asm__("_mi_free_generic");
}  // namespace tiermalloc::rt
// Our mimalloc patch (interpose/mimalloc-2.0.9.patch): the multi-threaded free of one block.
extern "C" void tiermalloc_free_block_mt(mi_page_t* page, mi_block_t* block) noexcept;
namespace tiermalloc::rt {
#endif

#if TM_INLINE_POP
static_assert(sizeof(mi_slice_t) == 80, "release's asm: a slice is 80 bytes (idx * 5 * 16)");
static_assert(sizeof(mi_slice_t::slice_offset) == 4, "release's asm: slice_offset is 32-bit");
static_assert(-static_cast<intptr_t>(MI_SEGMENT_ALIGN) >= INT32_MIN, "release's asm: the mask is a sign-extended imm32");
#endif
TM_FAST_PATH void release(void* p) {
  uintptr_t off = reinterpret_cast<uintptr_t>(p) - g_base;
  if (TM_LIKELY(off < g_free_total)) {
#if TM_INLINE_POP
    // mimalloc's free of a block of this thread's page (its release configuration: no
    // padding, statistics or checks), without mi_free's NULL test (ours is never NULL) and
    // the jump to it.  Another thread's block goes straight to the multi-threaded free
    // (where _mi_free_generic would send it) unless its page holds aligned blocks; those, and
    // a full page of this thread's, take mimalloc's generic free.
    // _mi_ptr_segment and _mi_segment_page_of, as mimalloc computes them, in one asm
    // statement: GCC's own code kept copies of the pointer and the segment (free: 29
    // instructions to mimalloc's 25).
    uintptr_t seg, pg, slice_off;
    __asm__("lea -1(%[p]), %[seg]\n\t"
            "and %[mask], %[seg]\n\t"
            "mov %[p], %[pg]\n\t"
            "sub %[seg], %[pg]\n\t"
            "shr %[shift], %[pg]\n\t"
            "lea (%[pg],%[pg],4), %[pg]\n\t"  // idx * 80: the slice's offset in slices[]
            "shl $4, %[pg]\n\t"
            "mov %c[soff](%[seg],%[pg]), %k[so]\n\t"
            "lea %c[slices](%[seg],%[pg]), %[pg]\n\t"
            "sub %[so], %[pg]"
            : [seg] "=&r"(seg), [pg] "=&r"(pg), [so] "=&r"(slice_off)
            : [p] "r"(p), [mask] "i"(~static_cast<intptr_t>(MI_SEGMENT_MASK)), [shift] "i"(MI_SEGMENT_SLICE_SHIFT),
              [slices] "i"(offsetof(mi_segment_t, slices)),
              [soff] "i"(offsetof(mi_segment_t, slices) + offsetof(mi_slice_t, slice_offset))
            : "cc");
    mi_segment_t* segment = reinterpret_cast<mi_segment_t*>(seg);
    mi_page_t* page = reinterpret_cast<mi_page_t*>(pg);
    // Each way calls the generic free with its own constant (a `local` kept for one shared
    // call cost the local path a setcc).
    // The owner compared in memory (a relaxed atomic load, which GCC loads into a register
    // of its own first): one instruction.
    bool local;
    __asm__("cmp %c[otid](%[seg]), %[tid]"
            : "=@cce"(local)
            : [tid] "r"(_mi_thread_id()), [seg] "r"(seg), [otid] "i"(offsetof(mi_segment_t, thread_id)),
              "m"(segment->thread_id));
    if (TM_LIKELY(local)) {
      if (TM_LIKELY(page->flags.full_aligned == 0)) {
        mi_block_t* block = static_cast<mi_block_t*>(p);
        mi_block_set_next(page, block, page->local_free);
        page->local_free = block;
        if (TM_UNLIKELY(--page->used == 0)) tm_mi_page_retire(page);
        return;
      }
      tm_mi_free_generic(segment, page, true, p);
      return;
    }
    if (TM_LIKELY(!mi_page_has_aligned(page))) {
      tiermalloc_free_block_mt(page, static_cast<mi_block_t*>(p));
      return;
    }
    tm_mi_free_generic(segment, page, false, p);
#else
    mi_free(p);
#endif
    return;
  }
  free_slow(p);
}

TM_FAST_PATH size_t usable(const void* p) {
  if (TM_LIKELY(owned(p))) return mi_usable_size(p);
  return usable_slow(p);
}

// ---- set-up and lifecycle (boot.cpp) ---------------------------------------------------

/** Reserves the tier slots and creates the plain arena, once.  False: nothing can be served. */
bool ensure_reserved();
/** The arena a thread allocating from a tier uses (its view, for `initiator: thread`). */
bool arena_of(int tier, mi_arena_id_t* id);
/** The published policy, or nullptr before the constructor has run. */
const CompiledPolicy* policy();
/** Makes this thread known: the registry, the exit destructor (its heaps come on demand). */
void thread_attach(ThreadState& ts);
/** Statistics merged from exited threads (and forked-away ones). */
struct Totals {
  std::atomic<uint64_t> allocs[kMaxTiers];
  std::atomic<uint64_t> bytes[kMaxTiers];
  std::atomic<uint64_t> frees[kMaxTiers];
  std::atomic<uint64_t> fallbacks_out[kMaxTiers];
  std::atomic<uint64_t> mmap_live[kMaxTiers];
  std::atomic<uint64_t> mmap_count[kMaxTiers];
  std::atomic<uint64_t> file_live[kMaxTiers];     // transient: file space in use
  std::atomic<uint64_t> file_peak[kMaxTiers];
  std::atomic<uint64_t> fallback_budget[kMaxTiers];   // transient: refused, over `size`
  std::atomic<uint64_t> fallback_no_space[kMaxTiers]; // transient: the filesystem said no
  std::atomic<uint64_t> fallback_alignment[kMaxTiers];  // transient: alignment above a page
  std::atomic<uint64_t> fallback_table_full[kMaxTiers]; // own-mapping table full
  std::atomic<bool> is_pmem[kMaxTiers];
};
extern Totals g_totals;
/** Sums live threads' counters into *out (allocs, bytes, frees); takes the registry lock. */
void sum_threads(uint64_t* allocs, uint64_t* bytes, uint64_t* frees);

/** Slow-path locks of the other files, taken around fork so the child finds them free and
 *  their tables consistent.  Rank: registry, then mmap table, then big-aligned table. */
void mmap_table_lock();
void mmap_table_unlock();
void own_table_lock();
void own_table_unlock();

/** TIERMALLOC_RETAIN_MIB's value (nullptr: unset): freed arena memory kept resident
 *  (retain.cpp); a bad value is reported and the default kept. */
void retain_configure(const char* mib_text);

// ---- blocks outside the arenas (own_maps.cpp) ------------------------------------------
// Alignments above mimalloc's 16 MiB, and transient tiers' file-backed blocks: each its own
// mapping, recorded in a table that free/realloc/malloc_usable_size consult on their slow
// path (a pointer outside the arenas).
inline constexpr size_t kArenaMaxAlign = size_t{16} << 20;
void* own_aligned_alloc(ThreadState& ts, int tier, size_t size, size_t align);
/** A block of a transient tier; NULL when its budget or its filesystem is full. */
void* transient_alloc(ThreadState& ts, int tier, size_t size);
/** realloc of a transient block staying on its tier: the file and its mapping resized (the
 *  mapping may move, the bytes are not copied).  NULL: not possible, the caller moves it. */
void* transient_resize(void* p, size_t size);
/** The tier of a transient block, or -1. */
int own_transient_tier(const void* p);
bool own_free(void* p);
size_t own_size(const void* p);
int own_tier(const void* p);
/** Loads libpmem (only processes with a transient tier pay for it). */
bool transient_init();
/** In a forked child: give it its own copy of every transient block (as a private
 *  anonymous mapping would be), instead of sharing the parent's file pages. */
void transient_after_fork_child();
/** Around fork (table locked): the parent waits until the child has its copies, so that
 *  the forking thread's writes after fork() cannot reach them. */
void transient_before_fork();
void transient_after_fork_parent();

// ---- call sites (sites.cpp) ------------------------------------------------------------
/** The plan of the site at ra (named and decided on first sight).  *cacheable is false for
 *  an allocation made while naming another site, and for a site decided per allocation by
 *  its callers (then *by_stack is true). */
const SitePlan* plan_for_site(ThreadState& ts, uintptr_t ra, const CompiledPolicy* pol, bool* cacheable,
                              bool* by_stack);
/** After dlclose: forget every site decision, process-wide and in every thread's cache. */
void forget_sites();
void clear_thread_caches();

/** Load mode (runtime.cpp, the bootstrap buffer): from load_begin to load_end this thread's
 *  allocations are cut from the bootstrap buffer and given back last-in first-out; what is
 *  left above the live ones at load_end is decommitted.  Our constructor's policy loading
 *  only (boot.cpp).  load_pause/load_resume: the cache miss's compiler in between (yaml-cpp's
 *  allocations are many, and some stay). */
void load_begin();
void load_end();
bool load_pause();
void load_resume(bool paused);

// ---- mmap bookkeeping (mmap_hooks.cpp) -------------------------------------------------
void* place_mmap(void* addr, size_t len, int prot, int flags, int fd, long off, uintptr_t ra);
int track_munmap(void* addr, size_t len);
/** Tier of a placed mapping containing p, or -1. */
int mmap_tier_of(const void* p);
void* track_mremap(void* old, size_t old_len, size_t new_len, int flags, void* new_addr);

// ---- statistics (stats.cpp) and block tracking (track.cpp, track.hpp) -----------------
void write_stats_at_exit();
/** TIERMALLOC_STATS or TIERMALLOC_PROFILE: no call site enters a thread's cache, so every
 *  allocation takes alloc_slow, and every free free_slow (g_free_total is 0). */
extern bool g_track;
struct TrackRec {
  uint64_t size;
  uint64_t t;
  uint32_t site;
  uint8_t tier;
};
/** Reads the environment; enables tracking, the statistics thread and the dump signal. */
void track_start();
/** Slow path, while tracking: restarts the statistics thread in a forked child. */
void track_poll();
void track_alloc(void* p, size_t size, uintptr_t ra, uint32_t api, int tier, int rule);
/** Profile only: an anonymous private mapping the program made (api mmap); munmap (from its
 *  start) and mremap take its record like free and realloc. */
extern bool g_profile;
void track_mapping(void* p, size_t len, uintptr_t ra, int tier, int rule);
/** mremap of a mapping track_take returned: its free, and the new one at the same site. */
void track_remapped(const TrackRec& old, void* p, size_t len);
/** Removes p's record into *out; false if p was allocated before tracking began. */
bool track_take(const void* p, TrackRec* out);
void track_put_back(const void* p, const TrackRec& r);
/** Counts the free of a block whose record track_take returned. */
void track_freed(const TrackRec& r);
/** Zeroes every thread's and the exited threads' tier counters (tracking starts). */
void reset_thread_counters();

}  // namespace tiermalloc::rt
