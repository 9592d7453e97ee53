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

#include <atomic>
#include <cstring>

#include "interpose/diag.hpp"
#include "interpose/runtime.hpp"
#include "policy/callsite.hpp"
#include "policy/match.hpp"

extern "C" void* tiermalloc_sys_mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off);

namespace tiermalloc::rt {
namespace {

constexpr size_t kSites = size_t{1} << 15;
constexpr int kProbe = 64;
struct SiteEntry {
  std::atomic<uintptr_t> ra;
  std::atomic<const SitePlan*> plan;
};
std::atomic<SiteEntry*> g_sites{nullptr};

constexpr int kMaxPlans = 128;
struct Interned {
  uint64_t mask;
  const CompiledPolicy* pol;
  SitePlan* plan;
};
Interned g_plans[kMaxPlans];
int g_nplans = 0;
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

const SitePlan* intern(const CompiledPolicy* pol, uint64_t mask) {
  if (mask == pol->site_free_mask) return &pol->plan;
  Lock l;
  for (int i = 0; i < g_nplans; ++i)
    if (g_plans[i].mask == mask && g_plans[i].pol == pol) return g_plans[i].plan;
  if (!g_plan_store) {
    void* m = tiermalloc_sys_mmap(nullptr, kMaxPlans * sizeof(SitePlan), PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return &pol->plan;
    g_plan_store = static_cast<SitePlan*>(m);
  }
  if (g_nplans == kMaxPlans) {
    static bool warned = false;
    if (!warned) diag::emit(diag::kWarn, "more distinct call-site rule sets than plans: further sites use the site-independent rules");
    warned = true;
    return &pol->plan;
  }
  SitePlan* p = &g_plan_store[g_nplans];
  build_plan(*pol, mask, p);
  g_plans[g_nplans++] = Interned{mask, pol, p};
  return p;
}

}  // namespace

const SitePlan* plan_for_site(ThreadState& ts, uintptr_t ra, const CompiledPolicy* pol, bool* cacheable) {
  *cacheable = true;
  if (!pol->has_site_rules) return &pol->plan;
  SiteEntry* tab = sites();
  if (!tab) return &pol->plan;
  size_t h = (ra * 0x9E3779B97F4A7C15ull) >> (64 - 15);
  for (int i = 0; i < kProbe; ++i) {
    SiteEntry& e = tab[(h + i) & (kSites - 1)];
    uintptr_t k = e.ra.load(std::memory_order_acquire);
    if (k == ra) {
      if (const SitePlan* p = e.plan.load(std::memory_order_acquire)) return p;
      break;
    }
    if (k == 0) break;
  }
  if (ts.in_resolve) {  // an allocation made while naming a site: decide nothing about it
    *cacheable = false;
    return &pol->plan;
  }
  ts.in_resolve++;
  uint64_t mask = pol->site_free_mask;
  policy::SiteName name;
  if (policy::resolve_site(ra, &name)) mask = policy::rules_for_site(*pol, name);
  const SitePlan* plan = intern(pol, mask);
  ts.in_resolve--;
  if (diag::level() >= diag::kDebug) {
    diag::Line l;
    l.s("site ").s(policy::base_name(name.module)).s("+").x(name.offset).s(" ").s(name.symbol).s(": rules ").x(mask);
    diag::emit(diag::kDebug, l);
  }
  for (int i = 0; i < kProbe; ++i) {
    SiteEntry& e = tab[(h + i) & (kSites - 1)];
    uintptr_t expected = 0;
    if (e.ra.compare_exchange_strong(expected, ra, std::memory_order_acq_rel) || expected == ra) {
      e.plan.store(plan, std::memory_order_release);
      break;
    }
  }
  return plan;
}

void forget_sites() {
  SiteEntry* tab = g_sites.load(std::memory_order_acquire);
  if (tab)
    for (size_t i = 0; i < kSites; ++i) {
      tab[i].plan.store(nullptr, std::memory_order_relaxed);
      tab[i].ra.store(0, std::memory_order_release);
    }
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
