// SPDX-License-Identifier: MIT
// interpose/boot.cpp -- set-up and lifecycle: the tier slots and their arenas, the policy
// read in our constructor, threads (attach, exit, reincarnation), fork, and process exit.
//
// Boot happens in two steps:
//  1. ensure_reserved(), at the very first allocation of the process (often inside ld.so
//     or libc's own start-up): reserve the slots, create the plain arena.  No C++ runtime,
//     no environment, no allocation of ours; nested allocations (mimalloc registering its
//     atexit handler) take the bootstrap buffer.
//  2. The constructor: read the environment, read the compiled policy from the cache or (on
//     a miss) have libtiermalloc-yaml.so parse and compile it (interpose/yaml_loader.cpp),
//     bind each tier's slot to its nodes, publish.  Until then every allocation is plain.
//     A tier's arena is made at the first allocation routed to it (arena_of).
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "interpose/diag.hpp"
#include "interpose/runtime.hpp"
#include "policy/cache.hpp"
#include "policy/compile.hpp"
#include "policy/load.hpp"
#include "topology/bind.hpp"

extern "C" void* tiermalloc_sys_mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off);
extern "C" int tiermalloc_sys_munmap(void* addr, size_t len);
// The pool of mimalloc heap structs (interpose/mimalloc-2.0.9.patch, heap.c): its spin lock.
extern "C" void tiermalloc_heap_pool_lock(void);
extern "C" void tiermalloc_heap_pool_unlock(void);

namespace tiermalloc::rt {

// The cache miss, in libtiermalloc-yaml.so (interpose/yaml_loader.cpp).
policy::LoadResult compile_in_helper(const policy::Settings& s, const topo::Machine& machine, CompiledPolicy* out,
                                     std::vector<std::string>* errors, std::vector<std::string>* notes,
                                     std::vector<std::string>* programs);

uintptr_t g_base = 0;
uintptr_t g_total = 0;
uintptr_t g_free_total = 0;
unsigned g_shift = 40;
uint8_t g_slot_tier[kMaxTiers] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static_assert(kMaxTiers == 16, "g_slot_tier's initialiser lists every slot");

namespace {

constexpr size_t kSegment = size_t{32} << 20;  // mimalloc's arena block and segment alignment

std::atomic<int> g_reserve_state{0};   // 0 none, 1 in progress, 2 done, 3 failed
mi_arena_id_t g_arena[kMaxTiers];     // by slot
std::atomic<uint32_t> g_arena_ok{0};   // bit i: slot i has an arena
// A tier's slot is bound to its nodes at start-up (so a binding error is still reported
// there), but its mimalloc arena -- the arena struct and its bitmaps, a page or two from the
// OS -- is made at the first allocation routed to it (arena_of): a process that never uses
// a tier (`true` uses none) pays nothing for it (issue 7).
struct PendingArena {
  void* start;
  size_t size;
};
PendingArena g_pending[kMaxTiers];
std::atomic<uint32_t> g_arena_pending{0};  // bit i: slot i is bound, its arena not made yet
std::atomic<bool> g_arena_lock{false};      // making an arena (held across fork: atfork_*)
int8_t g_view_slot[kMaxTiers][kMaxViews];  // `initiator: thread` views: tier, view -> slot

constinit CompiledPolicy g_compiled{};
std::atomic<const CompiledPolicy*> g_policy{nullptr};

pthread_key_t g_exit_key;
std::atomic<bool> g_registry_lock{false};
ThreadState* g_threads = nullptr;

void lock_registry() {
  while (g_registry_lock.exchange(true, std::memory_order_acquire)) sched_yield();
}
void unlock_registry() { g_registry_lock.store(false, std::memory_order_release); }

void merge_and_clear(ThreadState& ts) {
  for (int i = 0; i < kMaxTiers; ++i) {
    g_totals.allocs[i].fetch_add(ts.allocs[i], std::memory_order_relaxed);
    g_totals.bytes[i].fetch_add(ts.bytes[i], std::memory_order_relaxed);
    g_totals.frees[i].fetch_add(ts.frees[i], std::memory_order_relaxed);
    ts.allocs[i] = ts.bytes[i] = ts.frees[i] = 0;
  }
}

void unregister(ThreadState& ts) {
  if (ts.prev) ts.prev->next = ts.next;
  else if (g_threads == &ts) g_threads = ts.next;
  if (ts.next) ts.next->prev = ts.prev;
  ts.next = ts.prev = nullptr;
}

// Thread exit: runs before mimalloc's own thread-done destructor because our key is
// created first (ensure_reserved creates it before touching mimalloc).  Deleting the heaps
// hands their live blocks to mimalloc's abandoned-segment machinery (still in our arenas,
// still freeable from any thread).  An allocation by a later destructor finds phase
// kExited and builds fresh heaps (reincarnation), re-arming this destructor.
void on_thread_exit(void*) {
  ThreadState& ts = t_state;
  lock_registry();
  merge_and_clear(ts);
  if (ts.registered) unregister(ts);
  ts.registered = 0;
  unlock_registry();
  for (SiteSlot& s : ts.cache) {  // before the heaps go
    s.ra = 0;
    disarm(s);
    s.heap = nullptr;
    s.third = nullptr;
  }
  for (int i = 0; i < kMaxTiers; ++i) {
    if (ts.heap[i]) mi_heap_delete(ts.heap[i]);
    ts.heap[i] = nullptr;
  }
  ts.phase = kExited;
  ts.exits++;
}

void lock_arenas() {
  while (g_arena_lock.exchange(true, std::memory_order_acquire)) sched_yield();
}
void unlock_arenas() { g_arena_lock.store(false, std::memory_order_release); }

void atfork_prepare() {
  lock_arenas();  // first: making an arena takes nothing else of ours
  lock_registry();
  mmap_table_lock();
  own_table_lock();
  transient_before_fork();
  tiermalloc_heap_pool_lock();  // a thread creating or deleting a heap finishes first
}
void atfork_parent() {
  tiermalloc_heap_pool_unlock();
  transient_after_fork_parent();
  own_table_unlock();
  mmap_table_unlock();
  unlock_registry();
  unlock_arenas();
}
void atfork_child() {
  tiermalloc_heap_pool_unlock();  // held by this thread in prepare: the pool is consistent
  own_table_unlock();
  mmap_table_unlock();
  transient_after_fork_child();
  // Only the forking thread lives on.  The others' counters stay in the child's copy of
  // their TLS; fold them into the totals and forget them.
  ThreadState* self = &t_state;
  for (ThreadState* t = g_threads; t;) {
    ThreadState* next = t->next;
    if (t != self) merge_and_clear(*t);
    t = next;
  }
  g_threads = self->registered ? self : nullptr;
  if (g_threads) self->next = self->prev = nullptr;
  g_registry_lock.store(false, std::memory_order_relaxed);
  g_arena_lock.store(false, std::memory_order_relaxed);
}

bool make_arena(int slot, void* start, size_t size) {
  mi_arena_id_t id;
  if (!mi_manage_os_memory_ex(start, size, /*is_committed=*/true, /*is_large=*/false, /*is_zero=*/true,
                              /*numa_node=*/-1, /*exclusive=*/true, &id))
    return false;
  g_arena[slot] = id;
  g_arena_ok.fetch_or(1u << slot, std::memory_order_release);
  return true;
}

bool reserve() {
  // One slot per tier, each 1 TiB of address space by default (MAP_NORESERVE: nothing is
  // committed until touched).  Smaller when the address space is limited (ulimit -v,
  // overcommit_memory=2).
  for (unsigned shift = 40; shift >= 31; --shift) {
    size_t total = size_t{kMaxTiers} << shift;
    void* p = tiermalloc_sys_mmap(nullptr, total + kSegment, PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) continue;
    uintptr_t a = reinterpret_cast<uintptr_t>(p);
    uintptr_t aligned = (a + kSegment - 1) & ~(kSegment - 1);
    if (aligned > a) tiermalloc_sys_munmap(p, aligned - a);
    uintptr_t end = a + total + kSegment;
    if (end > aligned + total) tiermalloc_sys_munmap(reinterpret_cast<void*>(aligned + total), end - aligned - total);
    g_shift = shift;
    if (!make_arena(0, reinterpret_cast<void*>(aligned), size_t{1} << shift)) {
      tiermalloc_sys_munmap(reinterpret_cast<void*>(aligned), total);
      return false;
    }
    g_base = aligned;
    std::atomic_thread_fence(std::memory_order_release);
    g_total = total;
    g_free_total = total;
    return true;
  }
  return false;
}

bool env_is(const char* v, const char* want) { return v && std::strcmp(v, want) == 0; }

const char* tm_getenv(const char* name) {
  if (getauxval(AT_SECURE)) return nullptr;  // setuid and friends: every TIERMALLOC_* is ignored
  return getenv(name);
}

// Binds one slot to a node set and makes it an arena; false (and a message) if it cannot.
bool build_slot(int slot, const CompiledTier& t, const NodeMask& nodes) {
  void* start = reinterpret_cast<void*>(g_base + (uintptr_t{static_cast<unsigned>(slot)} << g_shift));
  size_t size = size_t{1} << g_shift;
  uint64_t budget = t.limit ? t.limit : t.bind_budget;
  if (budget) {
    // A limit rounds up to whole segments; a bind budget (free memory) rounds down, so the
    // arena empties before the kernel has to refuse a page.
    size_t want = t.limit ? (budget + kSegment - 1) & ~(kSegment - 1) : budget & ~(kSegment - 1);
    if (want < kSegment) want = kSegment;
    if (want < size) size = want;
  }
  int err = topo::bind_range(start, size_t{1} << g_shift, t.mode, nodes);
  if (err == 0) {
    g_pending[slot] = PendingArena{start, size};  // the arena itself: arena_of, on first use
    g_arena_pending.fetch_or(1u << slot, std::memory_order_release);
    return true;
  }
  diag::Line l;
  l.s("tier '").s(t.name).s("': cannot bind memory to nodes ").s(policy::describe_nodes(nodes).c_str())
      .s(" (errno ").i(err).s(")");
  diag::emit(diag::kWarn, l);
  return false;
}

void build_tier_arenas(CompiledPolicy& pol) {
  int next_slot = pol.ntiers;  // slots past the tiers' own hold per-thread views
  for (int i = 1; i < pol.ntiers; ++i) {
    CompiledTier& t = pol.tiers[i];
    for (int v = 0; v < kMaxViews; ++v) g_view_slot[i][v] = -1;
    if (!t.available) continue;
    if (t.transient) {
      if (!transient_init()) {
        diag::Line l;
        l.s("tier '").s(t.name).s("': libpmem (libpmem.so.1) cannot be loaded; its allocations take the fallback chain");
        diag::emit(diag::kWarn, l);
        t.available = false;
      }
      continue;
    }
    if (t.nviews > 0) {
      if (!build_slot(i, t, t.view_nodes[0])) {
        t.available = false;
        continue;
      }
      g_view_slot[i][0] = static_cast<int8_t>(i);
      for (int v = 1; v < t.nviews; ++v) {
        if (next_slot >= kMaxTiers) {
          diag::Line l;
          l.s("tier '").s(t.name).s("': no arena slot left for the view from node ").i(t.view_initiator[v])
              .s("; those threads share the first view");
          diag::emit(diag::kWarn, l);
          continue;
        }
        if (build_slot(next_slot, t, t.view_nodes[v])) {
          g_slot_tier[next_slot] = static_cast<uint8_t>(i);
          g_view_slot[i][v] = static_cast<int8_t>(next_slot++);
        }
      }
      continue;
    }
    if (!build_slot(i, t, t.nodes)) t.available = false;  // its allocations take the fallback chain
  }
  // A rule whose tier just failed must not send allocations there: the slow path would
  // then fall back on every call.  Redirect it the way compile did.
  for (int i = 0; i < pol.nrules; ++i) {
    CompiledRule& r = pol.rules[i];
    if (pol.tiers[r.entry.tier].available) continue;
    const uint8_t* chain = r.nfallback ? r.fallback : pol.tiers[r.entry.tier].fallback;
    int n = r.nfallback ? r.nfallback : pol.tiers[r.entry.tier].nfallback;
    uint8_t to = 0;
    for (int k = 0; k < n; ++k)
      if (pol.tiers[chain[k]].available) { to = chain[k]; break; }
    r.entry.tier = to;
  }
  if (!pol.tiers[pol.plan.default_tier].available) pol.plan.default_tier = 0;
  build_plan(pol, pol.site_free_mask, &pol.plan);
}

std::string program_path() {
  // A small buffer first: a 4 KiB one on the stack was one more page of the main thread's
  // stack written by every process (issue 7); a longer path is read again into the heap.
  char buf[256];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf);
  if (n > 0 && static_cast<size_t>(n) < sizeof buf) return std::string(buf, static_cast<size_t>(n));
  if (n <= 0) return std::string();
  std::string p(4096, '\0');
  n = readlink("/proc/self/exe", &p[0], p.size());
  p.resize(n > 0 && static_cast<size_t>(n) < p.size() ? static_cast<size_t>(n) : 0);
  return p;
}

void load_and_publish() {
  if (const char* l = tm_getenv("TIERMALLOC_LOG")) {
    if (env_is(l, "error")) diag::set_level(diag::kError);
    else if (env_is(l, "warn")) diag::set_level(diag::kWarn);
    else if (env_is(l, "info")) diag::set_level(diag::kInfo);
    else if (env_is(l, "debug")) diag::set_level(diag::kDebug);
    else diag::emit(diag::kWarn, "TIERMALLOC_LOG: unknown level (expected error, warn, info or debug); using warn");
  }
  if (const char* f = tm_getenv("TIERMALLOC_LOG_FILE")) diag::set_file(f);
  retain_configure(tm_getenv("TIERMALLOC_RETAIN_MIB"));
  bool strict = env_is(tm_getenv("TIERMALLOC_STRICT"), "1");

  policy::Settings s;
  const char* path = tm_getenv("TIERMALLOC_POLICY");
  s.policy_path = path ? path : "";
  s.disable = env_is(tm_getenv("TIERMALLOC_DISABLE"), "1");
  if (const char* thr = tm_getenv("TIERMALLOC_HBW_THRESHOLD")) {
    char* end;
    double v = strtod(thr, &end);
    if (end == thr || *end || v <= 0) diag::emit(diag::kWarn, "TIERMALLOC_HBW_THRESHOLD: expected a bandwidth in MB/s; ignored");
    else s.hbw_threshold = v;
  }
  s.program = program_path();
  if (const char* root = tm_getenv("TIERMALLOC_SYSFS_ROOT")) s.sysfs_root = root;
  if (!getauxval(AT_SECURE)) s.overrides = policy::overrides_from_environ(environ);
  // The compiled policy is kept between processes (policy/cache.hpp): no YAML parsing when a
  // process with the same policy, settings and machine has run before.
  if (!getauxval(AT_SECURE))
    s.cache_dir = policy::default_cache_dir(tm_getenv("TIERMALLOC_CACHE"), tm_getenv("TIERMALLOC_CACHE_DIR"),
                                            tm_getenv("XDG_RUNTIME_DIR"));
  std::vector<std::string> errors, notes;
  policy::LoadInfo info;
  policy::LoadResult res = policy::load_policy_with(compile_in_helper, s, &g_compiled, &errors, &notes, &info);
  if (info.from_cache || info.cached) {
    diag::Line l;
    l.s(info.from_cache ? "policy: compiled form read from " : "policy: compiled form cached in ")
        .s(info.from_cache ? info.cache_file.c_str() : s.cache_dir.c_str());
    diag::emit(diag::kDebug, l);
  }
  for (const auto& e : errors) diag::emit(diag::kError, e.c_str());
  if (res == policy::LoadResult::kError) {
    if (strict) {
      diag::emit(diag::kError, "policy has errors and TIERMALLOC_STRICT=1: exiting with status 2");
      _exit(2);
    }
    diag::emit(diag::kWarn, "policy not applied; allocations are plain");
  }
  for (const auto& n : notes) diag::emit(diag::kWarn, n.c_str());
  build_tier_arenas(g_compiled);
  if (res == policy::LoadResult::kLoaded && diag::level() >= diag::kInfo) {  // describe_nodes is not free
    for (int i = 1; i < g_compiled.ntiers; ++i) {
      diag::Line l;
      const CompiledTier& t = g_compiled.tiers[i];
      l.s("tier ").s(t.name).s(": ");
      if (!t.available) l.s("unavailable (").s(t.why).s(")");
      else if (t.transient) l.s(t.why);
      else l.s("nodes ").s(policy::describe_nodes(t.nodes).c_str()).s(" ").s(policy::mode_name(t.mode)).s(" (").s(t.why).s(")");
      diag::emit(diag::kInfo, l);
    }
  }
  g_policy.store(&g_compiled, std::memory_order_release);
}

}  // namespace

bool ensure_reserved() {
  int st = g_reserve_state.load(std::memory_order_acquire);
  if (TM_LIKELY(st == 2)) return true;
  if (st == 3) return false;
  int expected = 0;
  if (g_reserve_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    ThreadState& ts = t_state;
    ts.in_boot++;
    pthread_key_create(&g_exit_key, on_thread_exit);
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    // mimalloc's NUMA node count: our arenas are per tier, bound by us, not per node, so
    // mimalloc has no use for it -- and finding it out probes /sys/devices/system/node/nodeN
    // with snprintf and access(), pages of libc.so a C program does not otherwise touch
    // (issue 7), and makes each new segment ask the kernel for the current node.  An explicit
    // MIMALLOC_USE_NUMA_NODES still wins.
    if (mi_option_get(mi_option_use_numa_nodes) <= 0) mi_option_set(mi_option_use_numa_nodes, 1);
    bool ok = reserve();
    ts.in_boot--;
    if (!ok) diag::emit(diag::kError, "cannot reserve address space for the tier arenas; serving from the bootstrap buffer");
    g_reserve_state.store(ok ? 2 : 3, std::memory_order_release);
    return ok;
  }
  while ((st = g_reserve_state.load(std::memory_order_acquire)) == 1) sched_yield();
  return st == 2;
}

bool arena_of(int tier, mi_arena_id_t* id) {
  int slot = tier;
  const CompiledPolicy* pol = policy();
  if (pol && tier > 0 && tier < pol->ntiers && pol->tiers[tier].nviews > 0) {
    // `initiator: thread`: the view of the node this thread runs on now (its first
    // allocation from the tier; the heap, and so the choice, stays with the thread).
    int cpu = sched_getcpu();
    int node = cpu >= 0 && cpu < kMaxCpus ? pol->cpu_node[cpu] : -1;
    const CompiledTier& t = pol->tiers[tier];
    for (int v = 0; v < t.nviews; ++v)
      if (t.view_initiator[v] == node && g_view_slot[tier][v] >= 0) slot = g_view_slot[tier][v];
  }
  uint32_t bit = 1u << slot;
  if (TM_UNLIKELY(!(g_arena_ok.load(std::memory_order_acquire) & bit))) {
    if (!(g_arena_pending.load(std::memory_order_acquire) & bit)) return false;
    // The slot's first allocation in this process: make its arena now (see g_pending).
    ThreadState& ts = t_state;
    ts.in_boot++;
    lock_arenas();
    bool made = true, made_now = false;
    if (!(g_arena_ok.load(std::memory_order_acquire) & bit)) {
      made = made_now = make_arena(slot, g_pending[slot].start, g_pending[slot].size);
      // Not made (no memory for its bitmaps): asked again at the next first use; until
      // then arena_of fails and the allocation takes the fallback chain.
    }
    unlock_arenas();
    ts.in_boot--;
    if (!made) return false;
    if (made_now && diag::level() >= diag::kDebug) {
      diag::Line l;
      l.s("tier '").s(pol ? pol->tiers[g_slot_tier[slot]].name : "plain").s("': arena made at its first allocation (slot ")
          .i(slot).s(")");
      diag::emit(diag::kDebug, l);
    }
  }
  *id = g_arena[slot];
  return true;
}

const CompiledPolicy* policy() { return g_policy.load(std::memory_order_acquire); }

void thread_attach(ThreadState& ts) {
  ts.in_boot++;
  // No heap yet, not even the plain tier's: try_tier makes each on the thread's first
  // allocation from its tier (a thread whose sites all go to other tiers never needs one).
  ts.phase = kActive;
  // Only a thread's first life joins the registry (read by statistics while it lives).  A
  // thread reincarnated by a later destructor may never get its exit hook called again
  // (glibc stops after PTHREAD_DESTRUCTOR_ITERATIONS passes): its TLS must not stay
  // reachable.  Its counts are merged at each exit hook that does run.
  if (ts.exits == 0) {
    lock_registry();
    ts.prev = nullptr;
    ts.next = g_threads;
    if (g_threads) g_threads->prev = &ts;
    g_threads = &ts;
    ts.registered = 1;
    unlock_registry();
  }
  // Always re-armed: the hook deletes this life's heaps before mimalloc's own thread-done
  // (whose key is created after ours) would free them under our feet.
  pthread_setspecific(g_exit_key, &ts);
  ts.in_boot--;
}

void clear_thread_caches() {
  // Other threads read their caches without a lock: only the key is cleared (a racing
  // reader sees either the old entry, whose plan stays valid, or a miss).
  lock_registry();
  for (ThreadState* t = g_threads; t; t = t->next)
    for (auto& slot : t->cache) __atomic_store_n(&slot.ra, uintptr_t{0}, __ATOMIC_RELAXED);
  unlock_registry();
  for (auto& slot : t_state.cache) slot.ra = 0;
}

void sum_threads(uint64_t* allocs, uint64_t* bytes, uint64_t* frees) {
  lock_registry();
  for (ThreadState* t = g_threads; t; t = t->next)
    for (int i = 0; i < kMaxTiers; ++i) {
      allocs[i] += t->allocs[i];
      bytes[i] += t->bytes[i];
      frees[i] += t->frees[i];
    }
  unlock_registry();
}

void reset_thread_counters() {
  lock_registry();
  for (ThreadState* t = g_threads; t; t = t->next)
    for (int i = 0; i < kMaxTiers; ++i) t->allocs[i] = t->bytes[i] = t->frees[i] = 0;
  unlock_registry();
  ThreadState& self = t_state;
  for (int i = 0; i < kMaxTiers; ++i) {
    self.allocs[i] = self.bytes[i] = self.frees[i] = 0;
    g_totals.allocs[i].store(0, std::memory_order_relaxed);
    g_totals.bytes[i].store(0, std::memory_order_relaxed);
    g_totals.frees[i].store(0, std::memory_order_relaxed);
  }
}

// The policy's loading freed most of what it allocated on the plain tier (the key, the
// machine, file buffers), but the pages stay resident in their size classes' pages, which
// under a policy that places the program elsewhere are never used again.  A forced collection
// returns the wholly free pages, decommitted at once (MADV_DONTNEED) rather than after
// mimalloc's delay (a short process ends first).
void release_boot_pages() {
  ThreadState& ts = t_state;
  if (!ts.heap[0]) return;
  long delay = mi_option_get(mi_option_decommit_delay);
  mi_option_set(mi_option_decommit_delay, 0);
  ts.in_boot++;
  mi_heap_collect(ts.heap[0], true);
  ts.in_boot--;
  mi_option_set(mi_option_decommit_delay, delay);
}

}  // namespace tiermalloc::rt

namespace {

__attribute__((constructor(101))) void tiermalloc_constructor() {
  int saved = errno;
  if (tiermalloc::rt::ensure_reserved()) {
    tiermalloc::rt::load_begin();
    tiermalloc::rt::load_and_publish();
    tiermalloc::rt::load_end();
    tiermalloc::rt::release_boot_pages();
    tiermalloc::rt::track_start();  // statistics and profiles: interpose/track.cpp
  }
  errno = saved;
}

}  // namespace

// The library's DT_FINI (CMakeLists.txt: -Wl,-fini), called by ld.so at exit: nothing to do
// (destructors run from .fini_array), but placed among the code every process runs
// (interpose/text-hot.ld) instead of crti's _fini, the last bytes of the text, whose page
// and its 64 KiB window would otherwise be mapped at every exit (issue 7).
extern "C" __attribute__((visibility("hidden"), used, noinline)) void tm_fini_nop() { __asm__ volatile(""); }

namespace {

// Runs after the program's atexit handlers; allocation keeps working afterwards (other
// libraries' destructors may still call malloc and free): nothing is torn down here.
__attribute__((destructor(101))) void tiermalloc_destructor() {
  int saved = errno;
  tiermalloc::rt::write_stats_at_exit();
  errno = saved;
}

}  // namespace
