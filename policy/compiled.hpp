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
  uint8_t nfallback;
  uint8_t fallback[kMaxFallback];  // tier indices tried in order when this tier is exhausted
  char why[160];            // how the nodes were chosen, or why the tier is unavailable
};

/** One size/api condition of a rule, in rule order; first match wins. */
struct PlanEntry {
  uint64_t size_lo;         // inclusive
  uint64_t size_hi;         // inclusive
  uint32_t apis;
  uint8_t tier;
  uint8_t rule;             // index into CompiledPolicy::rules
};

/** What a call site does with a size: the rules that can still match there. */
struct SitePlan {
  uint8_t nentries;
  uint8_t default_tier;
  PlanEntry entries[kMaxRules];

  /** Hot path: a few compares per rule. Returns the tier and the matching rule (or -1). */
  inline int tier_for(size_t size, uint32_t api, int* rule) const {
    for (unsigned i = 0; i < nentries; ++i) {
      const PlanEntry& e = entries[i];
      if (size >= e.size_lo && size <= e.size_hi && (e.apis & api)) { *rule = e.rule; return e.tier; }
    }
    *rule = -1;
    return default_tier;
  }
};

struct CompiledRule {
  char name[kNameLen];
  uint8_t tier;
  uint8_t nfallback;        // 0: the tier's own chain
  uint8_t fallback[kMaxFallback];
};

struct CompiledPolicy {
  int ntiers;               // including the plain tier 0
  CompiledTier tiers[kMaxTiers];
  int nrules;
  CompiledRule rules[kMaxRules];
  OnExhausted on_exhausted;
  bool has_mmap_rules;      // any rule whose api includes mmap
  SitePlan plan;            // the plan of every site (no call-site conditions yet)
  char source[256];         // the policy file, for messages and statistics
};

}  // namespace tiermalloc
