// SPDX-License-Identifier: MIT
// interpose/sites.cpp -- call sites: each return address is named once (module, offset,
// symbol), the rules that can apply there are decided once, and the resulting plan is
// shared by every site with the same rules.  The per-thread cache in runtime.hpp sits in
// front of this; here is the process-wide part, reached on a thread's first allocation
// from a site.
//
// Site table: open addressing, lock-free insert (CAS on the key).  Plans: interned by rule
// set under a spin lock, never freed (a plan pointer read by a racing thread stays valid).
// dlclose clears the table and every thread's cache, so an address reused by the next
// library does not inherit a stale decision.
#include <dlfcn.h>
#include <sys/mman.h>
#include <unwind.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "interpose/diag.hpp"
#include "interpose/runtime.hpp"
#include "interpose/unwind.hpp"
#include "policy/callsite.hpp"
#include "policy/match.hpp"

extern "C" void* tiermalloc_sys_mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off);

namespace tiermalloc::rt {
namespace {

constexpr size_t kSites = size_t{1} << 15;
constexpr int kProbe = 64;
enum SiteKind : uint8_t { kPlain = 0, kUnwind = 1 };

// One named address: the plan of an allocation made there, and what the address means as
// a frame of someone else's stack (a wrapper to look past, stack-rule patterns it matches).
struct SiteEntry {
  std::atomic<uintptr_t> ra;
  std::atomic<uint8_t> ready;
  uint8_t kind;          // kUnwind: decided per allocation (wrapper, or a stack rule may apply)
  bool wrapper;
  uint64_t mask;         // rules whose module/function conditions hold here
  uint64_t stack_bits;   // stack rules this frame satisfies
  const SitePlan* plan;  // kPlain: the decision
};
std::atomic<SiteEntry*> g_sites{nullptr};

constexpr int kMaxPlans = 128;
struct Interned {
  uint64_t mask;
  const CompiledPolicy* pol;
  SitePlan* plan;
};
Interned g_plans[kMaxPlans];
std::atomic<int> g_nplans{0};
SitePlan* g_plan_store = nullptr;
std::atomic<bool> g_lock{false};

struct Lock {
  Lock() { while (g_lock.exchange(true, std::memory_order_acquire)) sched_yield(); }
  ~Lock() { g_lock.store(false, std::memory_order_release); }
};

SiteEntry* sites() {
  SiteEntry* s = g_sites.load(std::memory_order_acquire);
  if (s) return s;
  Lock l;
  s = g_sites.load(std::memory_order_relaxed);
  if (!s) {
    void* m = tiermalloc_sys_mmap(nullptr, kSites * sizeof(SiteEntry), PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    s = static_cast<SiteEntry*>(m);
    g_sites.store(s, std::memory_order_release);
  }
  return s;
}

// Lock-free for plans already made (the stack-rule path looks them up per allocation).
const SitePlan* intern(const CompiledPolicy* pol, uint64_t mask) {
  if (mask == pol->site_free_mask) return &pol->plan;
  int n = g_nplans.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i)
    if (g_plans[i].mask == mask && g_plans[i].pol == pol) return g_plans[i].plan;
  Lock l;
  n = g_nplans.load(std::memory_order_relaxed);
  for (int i = 0; i < n; ++i)
    if (g_plans[i].mask == mask && g_plans[i].pol == pol) return g_plans[i].plan;
  if (!g_plan_store) {
    void* m = tiermalloc_sys_mmap(nullptr, kMaxPlans * sizeof(SitePlan), PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return &pol->plan;
    g_plan_store = static_cast<SitePlan*>(m);
  }
  if (n == kMaxPlans) {
    static bool warned = false;
    if (!warned) diag::emit(diag::kWarn, "more distinct call-site rule sets than plans: further sites use the site-independent rules");
    warned = true;
    return &pol->plan;
  }
  SitePlan* p = &g_plan_store[n];
  build_plan(*pol, mask, p);
  g_plans[n] = Interned{mask, pol, p};
  g_nplans.store(n + 1, std::memory_order_release);
  return p;
}

size_t slot_of(uintptr_t ra) { return (ra * 0x9E3779B97F4A7C15ull) >> (64 - 15); }

const SiteEntry* find(SiteEntry* tab, uintptr_t ra) {
  size_t h = slot_of(ra);
  for (int i = 0; i < kProbe; ++i) {
    SiteEntry& e = tab[(h + i) & (kSites - 1)];
    uintptr_t k = e.ra.load(std::memory_order_acquire);
    if (k == ra) return e.ready.load(std::memory_order_acquire) ? &e : nullptr;
    if (k == 0) return nullptr;
  }
  return nullptr;
}

// Names ra and records what it means.  The caller holds ts.in_resolve.
const SiteEntry* resolve(SiteEntry* tab, uintptr_t ra, const CompiledPolicy* pol) {
  if (const SiteEntry* e = find(tab, ra)) return e;
  policy::SiteName name;
  policy::SiteTraits t{pol->site_free_mask, 0, false};
  if (policy::resolve_site(ra, &name)) t = policy::site_traits(*pol, name);
  // A stack of one frame is the site itself: decided here, once, like a function rule.
  bool one_frame = pol->stack_depth <= 1 && pol->nwrappers == 0;
  if (one_frame) t.mask = (t.mask & ~pol->stack_rule_mask) | (t.mask & pol->stack_rule_mask & t.stack_bits);
  bool unwind = t.wrapper || (!one_frame && (t.mask & pol->stack_rule_mask));
  const SitePlan* plan = unwind ? nullptr : intern(pol, t.mask);
  if (diag::level() >= diag::kDebug) {
    diag::Line l;
    l.s("site ").s(policy::base_name(name.module)).s("+").x(name.offset).s(" ").s(name.symbol).s(": rules ").x(t.mask)
        .s(t.wrapper ? " (wrapper)" : "").s(unwind ? " (per allocation)" : "");
    diag::emit(diag::kDebug, l);
  }
  size_t h = slot_of(ra);
  for (int i = 0; i < kProbe; ++i) {
    SiteEntry& e = tab[(h + i) & (kSites - 1)];
    uintptr_t expected = 0;
    if (e.ra.compare_exchange_strong(expected, ra, std::memory_order_acq_rel)) {
      e.kind = unwind ? kUnwind : kPlain;
      e.wrapper = t.wrapper;
      e.mask = t.mask;
      e.stack_bits = t.stack_bits;
      e.plan = plan;
      e.ready.store(1, std::memory_order_release);
      return &e;
    }
    if (expected == ra) break;  // another thread is naming it: use our own answer this once
  }
  static thread_local SiteEntry scratch;  // table full, or a race: not shared
  scratch.kind = unwind ? kUnwind : kPlain;
  scratch.wrapper = t.wrapper;
  scratch.mask = t.mask;
  scratch.stack_bits = t.stack_bits;
  scratch.plan = plan;
  return &scratch;
}

// Return addresses of the current stack, from the allocation's call site outwards.
struct Walk {
  uintptr_t site;
  uintptr_t* out;
  int max;
  int n;
  int seen;
};

_Unwind_Reason_Code walk_frame(struct _Unwind_Context* ctx, void* arg) {
  auto* w = static_cast<Walk*>(arg);
  uintptr_t ip = _Unwind_GetIP(ctx);
  if (++w->seen > 256) return _URC_END_OF_STACK;
  if (w->n == 0 && ip != w->site) return _URC_NO_REASON;  // still inside the allocator
  w->out[w->n++] = ip;
  return w->n == w->max ? _URC_END_OF_STACK : _URC_NO_REASON;
}

// The rules a matched rule makes irrelevant (first match wins): after a rule that applies to
// every size, a later rule naming no interface the first does not name can never decide.
uint64_t shadowed_by(const CompiledPolicy* pol, uint64_t matched) {
  uint64_t out = 0;
  for (int i = 0; i < pol->nrules; ++i) {
    if (!((matched >> i) & 1)) continue;
    const PlanEntry& e = pol->rules[i].entry;
    if (e.size_lo != 0 || e.size_hi != UINT64_MAX) continue;
    for (int j = i + 1; j < pol->nrules; ++j)
      if ((pol->rules[j].entry.apis & ~e.apis) == 0) out |= uint64_t{1} << j;
  }
  return out;
}

// The decision from a stack's return addresses (frames[0] is the allocation's call site):
// skip wrapper frames, and collect stack-rule matches.  *used: how many frames the decision
// depends on -- once every stack rule of the site that can still decide has matched, outer
// frames cannot change it (a rule shadowed by one matched before it need not be looked for:
// a stack decided in one or two frames gets the fast entry even when later rules look deeper).
const SitePlan* decide_frames(SiteEntry* tab, const uintptr_t* frames, int n, const CompiledPolicy* pol,
                              int* used) {
  int depth = pol->stack_depth < 1 ? 1 : pol->stack_depth;
  int k = 0;
  const SiteEntry* site = resolve(tab, frames[0], pol);
  while (site->wrapper && k + 1 < n) site = resolve(tab, frames[++k], pol);
  *used = k + 1;
  uint64_t mask = site->mask;
  if (uint64_t need = mask & pol->stack_rule_mask) {
    uint64_t bits = 0;
    for (int j = k; j < n && j < k + depth; ++j) {
      bits |= resolve(tab, frames[j], pol)->stack_bits;
      *used = j + 1;
      if (bits & need) need &= ~shadowed_by(pol, bits & need);
      if ((bits & need) == need) break;
    }
    mask = (mask & ~pol->stack_rule_mask) | (need & bits);
  }
  return intern(pol, mask);
}

// How many frames from the site on a decision looks at: as deep as the rules look, plus
// room to skip wrapper frames when the policy has wrappers.
int frames_wanted(const CompiledPolicy* pol) {
  int depth = pol->stack_depth < 1 ? 1 : pol->stack_depth;
  return depth + (pol->nwrappers ? kMaxWrappers : 0);
}

// Per allocation, at a site where a wrapper or a stack rule makes the decision depend on
// the callers, when the fast walk (stack_plan) cannot: libgcc's unwinder (~1-3k
// instructions a frame), which knows signal frames and CFA expressions.
const SitePlan* decide_by_stack(SiteEntry* tab, uintptr_t ra, const CompiledPolicy* pol) {
  uintptr_t frames[kMaxStackDepth + kMaxWrappers + 1];
  Walk w{ra, frames, frames_wanted(pol), 0, 0};
  _Unwind_Backtrace(walk_frame, &w);
  if (w.n == 0) {  // the unwinder did not see the site: decide by the site alone
    frames[0] = ra;
    w.n = 1;
  }
  int used;
  return decide_frames(tab, frames, w.n, pol, &used);
}

// ---- the fast walk's per-thread cache of recent stacks ---------------------------------
// Per site, the last stacks seen from the site's frame outwards (its return address and the
// callers' the decision depended on, with the rule that leads from each frame to the next)
// and their plan.  A hit re-walks the recorded rules from the site's frame and compares
// every return address it loads with the recorded one: exact, a few instructions a frame.
// Read and written only by its thread; `busy` keeps a signal handler that allocates
// mid-lookup away from it (it takes the slow path).
constexpr int kTraceFrames = 12;
constexpr int kTraceSets = 8;
constexpr int kTraceWays = 2;
struct Trace {
  uintptr_t site;  // 0: empty, or being written
  uint32_t gen;    // unwind::generation() when recorded (dlclose bumps it)
  int n;           // pc[0] is the site, pc[n - 1] the last frame looked at (0: the stack's end)
  const SitePlan* plan;
  uintptr_t pc[kTraceFrames];
  unwind::Rule rule[kTraceFrames];
};
struct TraceCache {
  Trace t[kTraceSets][kTraceWays];
  uint8_t next[kTraceSets];  // the way to record into next
  uint8_t mru[kTraceSets];   // the way that answered last: tried first
  uint8_t busy;
};
constinit thread_local TraceCache t_traces __attribute__((tls_model("initial-exec")));

TM_FAST_PATH unsigned trace_set(uintptr_t ra) {
  return static_cast<unsigned>((ra * 0x9E3779B97F4A7C15ull) >> (64 - 3));
}
static_assert(kTraceSets == 8, "trace_set yields 3 bits");

void fill_slot(SiteSlot& s, const Trace& t, uint32_t api, size_t size, ThreadState& ts) {
  int64_t off = 0;
  uint8_t rbp = 0;
  uintptr_t pc1 = t.site;
  if (t.n == 2 && t.rule[0].kind == unwind::kOk) {
    off = int64_t{t.rule[0].cfa_off} + t.rule[0].ra_off;
    rbp = t.rule[0].cfa_rbp;
    if (!rbp) off += 8;  // the site frame's rsp is the entry's + 8
    pc1 = t.pc[1];
  } else if (t.n != 1) {
    return;
  }
  const ApiPlan& a = t.plan->api[api_index(api)];
  unsigned i = 0;
  while (i < a.nbounds && size >= a.bound[i]) ++i;
  uint64_t lo = i ? a.bound[i - 1] : 0;
  uint64_t hi = i < a.nbounds ? a.bound[i] : ~uint64_t{0};
  mi_heap_t* h = ts.heap[a.tier[i]];
  s.st_span = 0;
  if (off != static_cast<int32_t>(off) || lo > UINT32_MAX || !h) return;
  s.heap = h;
  s.st_pc1 = pc1;
  s.st_lo = static_cast<uint32_t>(lo);
  s.st_off = static_cast<int32_t>(off);
  s.st_api = static_cast<uint8_t>(api);
  s.st_rbp = rbp;
  s.st_span = static_cast<uint32_t>(hi - lo < UINT32_MAX ? hi - lo : UINT32_MAX);
}

// The site's fast entry (its cache slot, runtime.hpp SiteSlot::st_*): a recorded stack t
// that just answered for interface api and this size, when it is of the site alone (n == 1)
// or of the site and one caller (n == 2, a kOk rule), becomes the one the hit path
// (stack_impl) reads without a loop: the caller's return address is at (rbp or the rsp at
// the trampoline's entry) + st_off -- the one load rewalk() would make; n == 1 needs none,
// and is written as st_off = 0 from that rsp, st_pc1 = site: the return address into the
// site, which the hit path compares anyway.  With the heap of the tier t's plan gives the
// size's interval (32-bit bounds; beyond, no entry).  The slot must still be the site's
// (stack_key) and the thread must have a heap of that tier.  Not while the slot is busy (a
// signal handler interrupting the hit path on it).  The caller holds the cache's busy.
void fill_fast(ThreadState& ts, const Trace& t, uint32_t api, size_t size) {
  SiteSlot& s = ts.cache[site_hash(t.site)];
  if (s.ra != stack_key(t.site) || s.st_busy) return;
  s.st_busy = 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  fill_slot(s, t, api, size, ts);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  s.st_busy = 0;
}

// The entry points that call alloc_stack instead of tail-calling it (operator new checks the
// result; posix_memalign stores it): their frame's rule, by the return address into them.
constexpr int kOwnFrames = 8;
struct OwnFrame {
  std::atomic<uintptr_t> ret;
  std::atomic<uint8_t> ready;
  unwind::Rule rule;
};
constinit OwnFrame g_own[4][kOwnFrames];  // constinit: not written by start-up code (issue 7)
std::atomic<uintptr_t> g_own_pending[4];  // a return address alloc_stack met without a rule

void learn_own_frame(Op op) {
  uintptr_t ret = g_own_pending[op].exchange(0, std::memory_order_relaxed);
  if (!ret) return;
  unwind::Rule rl = unwind::rule_for(ret);
  if (rl.kind != unwind::kOk) return;
  for (OwnFrame& o : g_own[op]) {
    uintptr_t expected = 0;
    if (o.ret.compare_exchange_strong(expected, ret, std::memory_order_acq_rel)) {
      o.rule = rl;
      o.ready.store(1, std::memory_order_release);
      return;
    }
    if (expected == ret) return;
  }
}

TM_FAST_PATH const unwind::Rule* own_frame_rule(Op op, uintptr_t ret) {
  for (const OwnFrame& o : g_own[op])
    if (o.ret.load(std::memory_order_relaxed) == ret) return o.ready.load(std::memory_order_acquire) ? &o.rule : nullptr;
  return nullptr;
}

// Walks from r (the frame alloc_stack returns to), decides, and records the stack.
const SitePlan* stack_plan_record(ThreadState& ts, uintptr_t ra, const unwind::Regs& r, Op op, uint32_t api,
                                  size_t size) {
  TraceCache& tc = t_traces;
  const CompiledPolicy* pol = policy();
  if (tc.busy || ts.in_resolve || !pol || !pol->has_site_rules) return nullptr;
  SiteEntry* tab = sites();
  if (!tab) return nullptr;
  tc.busy = 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  ts.in_resolve++;  // rules are derived here: an allocation made meanwhile decides nothing
  learn_own_frame(op);
  constexpr int kCap = unwind::kMaxOwnFrames + kMaxStackDepth + kMaxWrappers + 2;
  uintptr_t pcs[kCap];
  unwind::Rule rules[kCap];
  int n, first;
  unwind::WalkStatus st = unwind::walk(r, ra, frames_wanted(pol), pcs, rules, kCap, &n, &first);
  const SitePlan* plan = nullptr;
  if (st == unwind::kWalkOk) {
    int nframes = n - first - (pcs[n - 1] == 0 ? 1 : 0);
    int used;
    plan = decide_frames(tab, pcs + first, nframes, pol, &used);
    // Record only what the decision depended on (and the stack's end, if it did).
    if (used < nframes) n = first + used;
  }
  ts.in_resolve--;
  if (plan && n - first <= kTraceFrames) {
    unsigned set = trace_set(ra);
    unsigned way = tc.next[set]++ % kTraceWays;
    tc.mru[set] = static_cast<uint8_t>(way);
    Trace& t = tc.t[set][way];
    t.site = ra;
    t.gen = unwind::generation();
    t.n = n - first;
    t.plan = plan;
    std::memcpy(t.pc, pcs + first, t.n * sizeof pcs[0]);
    std::memcpy(t.rule, rules + first, t.n * sizeof rules[0]);
    fill_fast(ts, t, api, size);
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
  tc.busy = 0;
  return plan;
}

// Does the recorded stack t match the one whose site frame has registers rsp, rbp?
TM_FAST_PATH bool matches(const Trace& t, uintptr_t ra, uint32_t gen, uintptr_t rsp, uintptr_t rbp) {
  if (t.site != ra || t.gen != gen) return false;
  return unwind::rewalk(unwind::Regs{0, rsp, rbp}, t.pc, t.rule, t.n);
}

// The plan of a recorded stack that matches this one, or nullptr.  ret0, rsp, rbp: the
// frame alloc_stack returns to (the site's, or an entry point's that called rather than
// tail-called it: its rule learnt once by the slow path).
template <Op kOp>
TM_FAST_PATH const SitePlan* stack_plan_hit(uintptr_t ra, uintptr_t ret0, uintptr_t rsp, uintptr_t rbp, uint32_t api,
                                            size_t size) {
  if (ret0 != ra) {
    const unwind::Rule* own = own_frame_rule(kOp, ret0);
    if (TM_UNLIKELY(own == nullptr)) {
      g_own_pending[kOp].store(ret0, std::memory_order_relaxed);
      return nullptr;
    }
    uintptr_t pc;
    unwind::step_exact(*own, &rsp, &rbp, &pc);
    if (TM_UNLIKELY(pc != ra)) return nullptr;
  }
  ThreadState& ts = t_state;
  TraceCache& tc = t_traces;
  if (TM_UNLIKELY(tc.busy)) return nullptr;  // a signal handler interrupting a lookup
  tc.busy = 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  const SitePlan* plan = nullptr;
  uint32_t gen = unwind::generation();
  unsigned set = trace_set(ra);
  unsigned w = tc.mru[set];
  Trace* ways = tc.t[set];
  if (matches(ways[w], ra, gen, rsp, rbp)) {
    plan = ways[w].plan;
  } else if (matches(ways[w ^ 1], ra, gen, rsp, rbp)) {
    w ^= 1;
    plan = ways[w].plan;
    tc.mru[set] = static_cast<uint8_t>(w);
  }
  if (plan) fill_fast(ts, ways[w], api, size);
  static_assert(kTraceWays == 2, "two ways probed");
  std::atomic_signal_fence(std::memory_order_seq_cst);
  tc.busy = 0;
  return plan;
}

// A miss: walk the stack (rules looked up per frame), decide, record.
template <Op kOp>
__attribute__((noinline)) void* stack_slow(size_t size, uintptr_t ra, uint32_t api, size_t align, void* old,
                                           const unwind::Regs& r) {
  if (const SitePlan* plan = stack_plan_record(t_state, ra, r, kOp, api, size)) return from_plan<kOp>(plan, size, ra, api, align, old);
  return alloc_slow(size, ra, api, kOp, align, old);
}

// Past the fast entry: a miss of the hot path's cache (alloc_slow), or the recorded stacks
// of the site's set (any depth, an entry point's own frame), else the walk.  Not cloned: its
// arguments stay in the registers stack_impl got them in (a clone without malloc's x made
// the hit path shuffle them).
// kSite: stack_impl found the slot to be the site's (a stack site whose fast entry did not
// answer); otherwise this tells a miss of the hot path's cache from a stack site.
template <Op kOp, NewKind kNew, bool kSite>
__attribute__((noinline, noclone)) void* stack_miss(size_t size, uintptr_t ra, uint32_t api, uintptr_t x, uintptr_t rsp_e,
                                           uintptr_t rbp_e) {
  size_t align = kOp == kOpAligned ? x : 0;  // malloc, calloc: x is the slot
  void* old = kOp == kOpRealloc ? reinterpret_cast<void*>(x) : nullptr;
  if constexpr (!kSite) {
    const SiteSlot& s = t_state.cache[site_hash(ra)];
    if constexpr (kOp == kOpMalloc || kOp == kOpCalloc) {  // operator new too (kOpMalloc)
      if (TM_UNLIKELY(x != reinterpret_cast<uintptr_t>(&s))) {  // the trampoline's hash is stale
        diag::emit(diag::kError, "interpose/sites.cpp: TM_SLOT_TO_RCX found another slot than site_hash(): fix the trampoline");
        abort();
      }
    }
    // Not a stack site: the hot path's cache missed.
    if (TM_UNLIKELY(__atomic_load_n(&s.ra, __ATOMIC_RELAXED) != stack_key(ra)))
      return new_result<kNew>(alloc_slow(size, ra, api, kOp, align, old), size, ra);
  }
  uintptr_t ret0 = *reinterpret_cast<const uintptr_t*>(rsp_e);
  const SitePlan* plan = stack_plan_hit<kOp>(ra, ret0, rsp_e + 8, rbp_e, api, size);
  if (TM_UNLIKELY(plan == nullptr)) {
    unwind::Regs r{ret0 - 1, rsp_e + 8, rbp_e};  // the walk starts at the frame ret0 is in
    return new_result<kNew>(stack_slow<kOp>(size, ra, api, align, old, r), size, ra);
  }
  return new_result<kNew>(from_plan<kOp>(plan, size, ra, api, align, old), size, ra);
}

// Behind the trampolines: x is aligned_alloc's alignment, realloc's block, or (malloc, calloc)
// the site's cache slot; rsp_e and rbp_e the registers at the trampoline's entry
// (rsp_e holds the return address).  The hit on the site's fast entry is a leaf (its other
// ways are tail calls): the site is the frame the trampoline returns to, the slot is still
// this site's (its key read again once st_busy is set: the hot path read it before), the
// interface and size are the entry's, and the caller's return address is the recorded one
// -- the same comparisons as rewalk(), with the heap read from the entry instead of the
// plan.  st_busy: a signal handler that records or names a site meanwhile leaves the slot
// alone, so what is read belongs together (the load at st_off follows the rule of this
// site's code).  No generation: dlclose clears every slot's key (forget_sites).
template <Op kOp, NewKind kNew>
TM_FAST_PATH void* stack_impl(size_t size, uintptr_t ra, uint32_t api, uintptr_t x, uintptr_t rsp_e, uintptr_t rbp_e) {
  if constexpr (kOp != kOpRealloc) {  // realloc also compares the block's tier: the other way
    ThreadState& ts = t_state;
    // malloc, calloc, new: x is the slot (their trampolines find it); the others look it up.
    SiteSlot& s = kOp == kOpAligned ? ts.cache[site_hash(ra)] : *reinterpret_cast<SiteSlot*>(x);
    if (TM_LIKELY(*reinterpret_cast<const uintptr_t*>(rsp_e) == ra && !s.st_busy)) {
      s.st_busy = 1;
      std::atomic_signal_fence(std::memory_order_seq_cst);
      uintptr_t base = s.st_rbp ? rbp_e : rsp_e;
      bool site = s.ra == stack_key(ra);
      bool hit = site && s.st_api == static_cast<uint8_t>(api) && size - s.st_lo < s.st_span &&
                 *reinterpret_cast<const uintptr_t*>(base + static_cast<intptr_t>(s.st_off)) == s.st_pc1;
      mi_heap_t* h = s.heap;
      std::atomic_signal_fence(std::memory_order_seq_cst);
      s.st_busy = 0;
      if (TM_LIKELY(hit))
        return new_result<kNew>(from_heap<kOp>(h, size, ra, api, kOp == kOpAligned ? x : 0, nullptr), size, ra);
      if (site) return stack_miss<kOp, kNew, true>(size, ra, api, x, rsp_e, rbp_e);
    }
  }
  return stack_miss<kOp, kNew, false>(size, ra, api, x, rsp_e, rbp_e);
}

}  // namespace

#define TM_STACK_IMPL(op, knew, name)                                                                        \
  extern "C" __attribute__((visibility("hidden"), used)) void* name(size_t size, uintptr_t ra, uint32_t api,  \
                                                                    uintptr_t x, uintptr_t rsp_e, uintptr_t rbp_e) { \
    return stack_impl<op, knew>(size, ra, api, x, rsp_e, rbp_e);                                             \
  }
TM_STACK_IMPL(kOpMalloc, kNotNew, tm_stack_impl_malloc)
TM_STACK_IMPL(kOpCalloc, kNotNew, tm_stack_impl_calloc)
TM_STACK_IMPL(kOpAligned, kNotNew, tm_stack_impl_aligned)
TM_STACK_IMPL(kOpRealloc, kNotNew, tm_stack_impl_realloc)
TM_STACK_IMPL(kOpMalloc, kNewThrow, tm_stack_impl_new)
TM_STACK_IMPL(kOpMalloc, kNewNothrow, tm_stack_impl_new_nothrow)

// The trampolines the hot path tail-calls (runtime.hpp alloc_stack): they hand on the stack
// pointer and rbp as they are at entry, i.e. as the caller left them, in the fifth and sixth
// argument registers (the first four are the request).  Two instructions and a jump; their
// CFI is the default (CFA = rsp + 8), for an unwinder that meets one in a signal handler.
// malloc's, calloc's and operator new's also put the address of the site's cache slot in the
// fourth (t_state.cache[site_hash(ra)]: the hash as runtime.hpp's, the TLS offset from the
// GOT, as the hot path reads it; stack_miss checks it).  Computed here, not handed on by the
// hot path: there, GCC then computes the slot's address twice, an instruction more on the
// direct route.  Each lies in a section .text.NAME of its own, as -ffunction-sections gives a
// C++ function, so that interpose/text-hot.ld can place it (issue 7).
#define TM_STACK_TRAMPOLINE(name, impl, slot)                                                 \
  asm(".pushsection .text." #name ",\"ax\",@progbits\n\t.p2align 4\n\t.globl " #name "\n\t.hidden " #name   \
      "\n\t.type " #name ", @function\n" #name ":\n\t.cfi_startproc\n\tmov %rsp, %r8\n\tmov %rbp, %r9\n" slot \
      "\tjmp " #impl "\n\t.cfi_endproc\n\t.size " #name ", .-" #name "\n\t.popsection\n");
#define TM_STR_(x) #x
#define TM_STR(x) TM_STR_(x)
#define TM_SLOT_TO_RCX                                                               \
  "\timul $" TM_STR(TM_SITE_HASH_MUL) ", %esi, %ecx\n\tshr $26, %ecx\n\tshl $7, %rcx\n\tadd %fs:0, %rcx\n" \
  "\tadd _ZN10tiermalloc2rt7t_stateE@gottpoff(%rip), %rcx\n"
static_assert(sizeof(SiteSlot) == 128 && kSiteCache == 64 && offsetof(ThreadState, cache) == 0,
              "TM_SLOT_TO_RCX: slot = &t_state + (hash >> 26) * 128");
TM_STACK_TRAMPOLINE(tm_alloc_stack_malloc, tm_stack_impl_malloc, TM_SLOT_TO_RCX)
TM_STACK_TRAMPOLINE(tm_alloc_stack_calloc, tm_stack_impl_calloc, TM_SLOT_TO_RCX)
TM_STACK_TRAMPOLINE(tm_alloc_stack_new, tm_stack_impl_new, TM_SLOT_TO_RCX)
TM_STACK_TRAMPOLINE(tm_alloc_stack_new_nothrow, tm_stack_impl_new_nothrow, TM_SLOT_TO_RCX)
TM_STACK_TRAMPOLINE(tm_alloc_stack_aligned, tm_stack_impl_aligned, "")
TM_STACK_TRAMPOLINE(tm_alloc_stack_realloc, tm_stack_impl_realloc, "")

const SitePlan* plan_for_site(ThreadState& ts, uintptr_t ra, const CompiledPolicy* pol, bool* cacheable,
                              bool* by_stack) {
  *cacheable = true;
  *by_stack = false;
  if (!pol->has_site_rules) return &pol->plan;
  SiteEntry* tab = sites();
  if (!tab) return &pol->plan;
  const SiteEntry* e = find(tab, ra);
  if (e && e->kind == kPlain) return e->plan;
  if (ts.in_resolve) {  // an allocation made while naming a site: decide nothing about it
    *cacheable = false;
    return &pol->plan;
  }
  ts.in_resolve++;
  if (!e) e = resolve(tab, ra, pol);
  const SitePlan* plan;
  if (e->kind == kPlain) {
    plan = e->plan;
  } else {
    *cacheable = false;  // decided per allocation: its slot says so (by_stack), no plan
    *by_stack = true;
    plan = decide_by_stack(tab, ra, pol);
  }
  ts.in_resolve--;
  return plan;
}

void forget_sites() {
  SiteEntry* tab = g_sites.load(std::memory_order_acquire);
  if (tab)
    for (size_t i = 0; i < kSites; ++i) {
      tab[i].ready.store(0, std::memory_order_relaxed);
      tab[i].ra.store(0, std::memory_order_release);
    }
  unwind::forget();  // frame rules, and every thread's recorded stacks (by generation)
  clear_thread_caches();
}

}  // namespace tiermalloc::rt

namespace {
using dlclose_fn = int (*)(void*);
std::atomic<dlclose_fn> g_real_dlclose{nullptr};
}  // namespace

// dlclose: the library's code addresses may come back with the next dlopen.
TM_EXPORT int dlclose(void* handle) {
  dlclose_fn real = g_real_dlclose.load(std::memory_order_acquire);
  if (!real) {
    real = reinterpret_cast<dlclose_fn>(dlsym(RTLD_NEXT, "dlclose"));
    g_real_dlclose.store(real, std::memory_order_release);
  }
  if (!real) return -1;
  int rc = real(handle);
  if (rc == 0) tiermalloc::rt::forget_sites();
  return rc;
}
