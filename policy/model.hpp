// SPDX-License-Identifier: MIT
// policy/model.hpp -- the policy as written: the YAML file's content, with the position of
// every value so that each problem can name file, line and column.
//
// Rich types (strings, vectors) are fine here: the model is built and compiled on the slow
// path, once per process, and only the CompiledPolicy (compiled.hpp) is read afterwards.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "policy/compiled.hpp"

namespace tiermalloc::policy {

struct Loc {
  int line = 0;    // 1-based; 0 = no position (a variable, a default)
  int col = 0;
};

/** One problem, printed as `tiermalloc: FILE:LINE:COL: MESSAGE`. */
struct Problem {
  std::string file;
  Loc loc;
  std::string message;
  std::string str() const;
};

struct SizeRange {
  uint64_t lo = 0;                 // inclusive
  uint64_t hi = UINT64_MAX;        // inclusive
};

struct TierSpec {
  std::string name;
  Loc loc;
  std::vector<int> nodes;          // `nodes: [...]`
  bool has_nodes = false;
  std::string select;              // `select: lowest_latency`
  Loc select_loc;
  std::string kind;                // `kind: hbm`
  Loc kind_loc;
  double threshold = 0;            // `threshold:` MB/s, for select: hbw
  bool per_thread = false;         // `initiator: thread`
  TierMode mode = TierMode::kDefault;
  uint64_t limit = 0;              // 0 = none
  bool transient = false;          // `transient: { path: DIR, size: BUDGET }`
  Loc transient_loc;
  std::string transient_path;      // its directory (TIERMALLOC_TRANSIENT_PATH overrides)
  uint64_t transient_size = 0;     // budget of file space in use; 0 = the filesystem's
};

struct RuleSpec {
  std::string name;
  std::string origin;              // where it was written, if not the policy file (TIERMALLOC_RULES)
  Loc loc;
  SizeRange size;
  bool has_size = false;
  uint32_t apis = kApiHeap;        // default: every heap interface, not mmap
  std::vector<std::string> module, function, stack;  // call-site conditions
  Loc site_loc;
  std::string tier;
  Loc tier_loc;
  std::vector<std::string> fallback;
  Loc fallback_loc;
};

struct PolicySpec {
  std::string file;                // as given, for messages
  int version = 1;
  std::vector<std::string> programs;
  std::vector<TierSpec> tiers;
  std::string default_tier;
  Loc default_loc;
  std::vector<std::string> fallback;
  Loc fallback_loc;
  OnExhausted on_exhausted = OnExhausted::kFallback;
  std::vector<std::string> wrappers;
  int stack_depth = 8;
  std::vector<RuleSpec> rules;
  double hbw_threshold = 0;        // TIERMALLOC_HBW_THRESHOLD (MB/s), for tiers without `threshold`
};

/** Parses a size: "64MiB", "4096", "1.5GiB" is refused (sizes are integers). */
bool parse_size(const std::string& text, uint64_t* out, std::string* error);
/** Parses a size condition: ">= 64MiB", "< 256", "== 4096", "4KiB..1MiB". */
bool parse_size_range(const std::string& text, SizeRange* out, std::string* error);
/** Parses an api list item: malloc, calloc, realloc, aligned, new, mmap. 0 if unknown. */
uint32_t parse_api(const std::string& name);
inline constexpr const char* kApiNames = "malloc, calloc, realloc, aligned, new, mmap";

/** Shell-style glob (`*`, `?`, `[...]`). */
bool glob_match(const std::string& pattern, const std::string& text);

/** Parses YAML text; appends every problem found. Returns true when there is none. */
bool parse_policy_text(const std::string& text, const std::string& file, PolicySpec* out,
                       std::vector<Problem>* problems);
bool parse_policy_file(const std::string& path, PolicySpec* out, std::vector<Problem>* problems);

}  // namespace tiermalloc::policy
