// SPDX-License-Identifier: MIT
// policy/compiled.hpp -- the policy as the hot path reads it.
//
// A CompiledPolicy is built once (policy/compile.cpp), on the slow path, from the rich
// model and the machine's topology, then published and never changed: it is plain data,
// holds no pointer into yaml-cpp or the STL, and may be read by any thread without a lock.
// interpose/ includes this header and nothing else from policy/ on its hot path.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tiermalloc {

inline constexpr int kMaxTiers = 16;       // tier 0 is the plain (unbound) tier
inline constexpr int kMaxRules = 64;
inline constexpr int kMaxFallback = 8;
inline constexpr int kNodeWords = 16;      // 1024 NUMA nodes, the kernel's MAX_NUMNODES
inline constexpr int kNameLen = 48;
inline constexpr int kMaxViews = 8;        // `initiator: thread`: node sets per initiator node
inline constexpr int kMaxCpus = 1024;

/** Allocation interfaces, as a bit set; rules match on them (`api:` in the policy). */
enum Api : uint32_t {
  kApiMalloc = 1u << 0,   // malloc, valloc-free plain allocations
  kApiCalloc = 1u << 1,
  kApiRealloc = 1u << 2,  // realloc, reallocarray
  kApiAligned = 1u << 3,  // posix_memalign, aligned_alloc, memalign, valloc, pvalloc
  kApiNew = 1u << 4,      // every operator new form
  kApiMmap = 1u << 5,     // anonymous private mmap
};
inline constexpr uint32_t kApiHeap = kApiMalloc | kApiCalloc | kApiRealloc | kApiAligned | kApiNew;
inline constexpr uint32_t kApiAll = kApiHeap | kApiMmap;

enum class TierMode : uint8_t { kDefault, kPreferred, kBind, kInterleave };
enum class OnExhausted : uint8_t { kFallback, kFail, kAbort };

struct NodeMask {
  uint64_t bits[kNodeWords];
  bool test(int n) const { return n >= 0 && n < kNodeWords * 64 && ((bits[n / 64] >> (n % 64)) & 1); }
  void set(int n) { if (n >= 0 && n < kNodeWords * 64) bits[n / 64] |= uint64_t{1} << (n % 64); }
  bool empty() const { for (auto b : bits) if (b) return false; return true; }
  int count() const { int c = 0; for (auto b : bits) c += __builtin_popcountll(b); return c; }
};

struct CompiledTier {
  char name[kNameLen];
  NodeMask nodes;           // empty for the plain tier
  TierMode mode;
  bool available;           // false: cannot be built here; allocations take the fallback chain
  uint64_t limit;           // bytes; 0 = none (the tier's arena is sized to it)
  uint64_t bind_budget;     // mode bind without limit: the nodes' free memory at start, so the
                            // arena runs out (and the fallback chain starts) before the nodes do
  uint8_t nfallback;
  uint8_t fallback[kMaxFallback];  // tier indices tried in order when this tier is exhausted
  char why[160];            // how the nodes were chosen, or why the tier is unavailable
  // Transient tiers: file-backed space in a directory (fsdax for true pmem), one unlinked
  // file per allocation, not a mimalloc arena.
  bool transient;
  char path[256];
  uint64_t transient_size;  // budget of file space in use; 0 = none but the filesystem's
  // `initiator: thread`: the selection seen from each initiator node; a thread takes the
  // view of the node it runs on when it first allocates from the tier.  0 = one for all.
  uint8_t nviews;
  int16_t view_initiator[kMaxViews];
  NodeMask view_nodes[kMaxViews];
};

/** One size/api condition of a rule, in rule order; first match wins. */
struct PlanEntry {
  uint64_t size_lo;         // inclusive
  uint64_t size_hi;         // inclusive
  uint32_t apis;
  uint8_t tier;
  uint8_t rule;             // index into CompiledPolicy::rules
};

inline constexpr int kApiCount = 6;
inline constexpr int kMaxBounds = 2 * kMaxRules;

/** One interface's view of a plan: disjoint size intervals, each with its tier.  Interval i
 *  is [bound[i-1], bound[i]); most policies have one or two. */
struct ApiPlan {
  uint8_t nbounds;
  uint8_t tier[kMaxBounds + 1];
  uint64_t bound[kMaxBounds];
  /** Hot path: one compare per boundary below size. */
  inline unsigned tier_of(size_t size) const {
    unsigned i = 0;
    while (i < nbounds && size >= bound[i]) ++i;
    return tier[i];
  }
};

/** Index of an Api bit (compile-time for the entry points). */
constexpr int api_index(uint32_t bit) { return __builtin_ctz(bit); }

/** What a call site does with a size: the rules that can still match there. */
struct SitePlan {
  uint8_t nentries;
  uint8_t default_tier;
  PlanEntry entries[kMaxRules];
  ApiPlan api[kApiCount];          // derived from entries by build_api_plans()

  /** Hot path: a few compares per rule. Returns the tier and the matching rule (or -1). */
  inline int tier_for(size_t size, uint32_t api, int* rule) const {
    for (unsigned i = 0; i < nentries; ++i) {
      const PlanEntry& e = entries[i];
      if (size >= e.size_lo && size <= e.size_hi && (e.apis & api)) { *rule = e.rule; return e.tier; }
    }
    *rule = -1;
    return default_tier;
  }

  /** Derives api[] from entries and default_tier: for each interface, the points where
   *  some rule's size range starts or ends split sizes into intervals on which the
   *  first-match answer is constant; neighbours with the same tier merge (the hot path needs
   *  only the tier; which rule matched is tier_for's business, on the slow path). */
  void build_api_plans() {
    for (int a = 0; a < kApiCount; ++a) {
      uint32_t bit = 1u << a;
      uint64_t pts[2 * kMaxRules + 1];
      int n = 0;
      pts[n++] = 0;
      for (unsigned i = 0; i < nentries; ++i) {
        if (!(entries[i].apis & bit)) continue;
        pts[n++] = entries[i].size_lo;
        if (entries[i].size_hi != UINT64_MAX) pts[n++] = entries[i].size_hi + 1;
      }
      for (int i = 1; i < n; ++i)  // insertion sort: n is small
        for (int j = i; j > 0 && pts[j - 1] > pts[j]; --j) { uint64_t t = pts[j]; pts[j] = pts[j - 1]; pts[j - 1] = t; }
      ApiPlan& p = api[a];
      p.nbounds = 0;
      int rule;
      p.tier[0] = static_cast<uint8_t>(tier_for(0, bit, &rule));
      for (int i = 1; i < n; ++i) {
        if (pts[i] == pts[i - 1]) continue;
        uint8_t t = static_cast<uint8_t>(tier_for(pts[i], bit, &rule));
        if (t == p.tier[p.nbounds]) continue;
        p.bound[p.nbounds++] = pts[i];
        p.tier[p.nbounds] = t;
      }
    }
  }
};

inline constexpr int kMaxPatterns = 4;
inline constexpr int kPatternLen = 128;

struct CompiledRule {
  char name[kNameLen];
  uint8_t tier;
  uint8_t nfallback;        // 0: the tier's own chain
  uint8_t fallback[kMaxFallback];
  PlanEntry entry;          // its size/api condition and (effective) tier
  // Call-site conditions, decided once per site (policy/match.cpp): any module glob must
  // match the module's file name, any function glob the symbol (mangled or demangled).
  uint8_t nmodule, nfunction, nstack;
  char module[kMaxPatterns][kPatternLen];
  char function[kMaxPatterns][kPatternLen];
  char stack[kMaxPatterns][kPatternLen];  // any frame within stack_depth matching any of them
  bool has_site() const { return nmodule || nfunction || nstack; }
};

inline constexpr int kMaxWrappers = 8;
inline constexpr int kMaxStackDepth = 64;

struct CompiledPolicy {
  int ntiers;               // including the plain tier 0
  CompiledTier tiers[kMaxTiers];
  int nrules;
  CompiledRule rules[kMaxRules];
  OnExhausted on_exhausted;
  bool has_mmap_rules;      // any rule whose api includes mmap
  bool has_site_rules;      // any rule with module/function conditions: sites get own plans
  uint64_t site_free_mask;  // rules without call-site conditions (they apply everywhere)
  uint64_t stack_rule_mask; // rules with `stack:` conditions: decided per allocation
  int stack_depth;          // frames examined for stack rules, from the call site
  uint8_t nwrappers;        // `wrappers:` globs: such frames are skipped to find the call site
  char wrappers[kMaxWrappers][kPatternLen];
  SitePlan plan;            // the plan of a site no call-site rule matches
  int16_t cpu_node[kMaxCpus];  // CPU -> node, for per-thread tiers (-1 unknown)
  char source[256];         // the policy file, for messages and statistics
};

/** The plan of the rules in mask (bit i = rule i), in rule order. Slow path only. */
inline void build_plan(const CompiledPolicy& c, uint64_t mask, SitePlan* out) {
  out->nentries = 0;
  out->default_tier = c.plan.default_tier;
  for (int i = 0; i < c.nrules; ++i)
    if (mask & (uint64_t{1} << i)) out->entries[out->nentries++] = c.rules[i].entry;
  out->build_api_plans();
}

}  // namespace tiermalloc
