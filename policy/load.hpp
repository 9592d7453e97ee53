// SPDX-License-Identifier: MIT
// policy/load.hpp -- from the process's settings to a CompiledPolicy: the one call the
// preload library makes at start-up (and `tiermalloc check` makes to show the same result).
#pragma once
#include <string>
#include <vector>

#include "policy/compiled.hpp"
#include "policy/env_overrides.hpp"

namespace tiermalloc::policy {

/** The TIERMALLOC_* settings that shape the policy (already filtered for AT_SECURE). */
struct Settings {
  std::string policy_path;   // TIERMALLOC_POLICY
  std::string program;       // the executable's path, for `programs:`
  bool disable = false;      // TIERMALLOC_DISABLE=1
  double hbw_threshold = 0;  // TIERMALLOC_HBW_THRESHOLD, MB/s
  std::string sysfs_root;    // TIERMALLOC_SYSFS_ROOT: a test's stand-in for /sys/devices/system/node
  EnvOverrides overrides;    // TIERMALLOC_RULES, _DEFAULT_TIER, _TIER_<NAME>_LIMIT, _TRANSIENT_PATH
  std::string cache_dir;     // where compiled policies are kept between processes (policy/cache.hpp); "" = none
};

/** How load_policy got its result. */
struct LoadInfo {
  bool from_cache = false;   // read back from the cache (no parsing, no compiling)
  bool cached = false;       // compiled, and written to the cache
  std::string cache_file;    // the file read
};

enum class LoadResult {
  kPlain,     // no policy, disabled, or `programs:` does not name this program
  kLoaded,    // the policy is in force
  kError,     // the policy has errors: plain allocation, or exit 2 under TIERMALLOC_STRICT
};

/**
 * Loads, checks and compiles.  *errors receives one line per problem ("FILE:L:C: message"),
 * *notes the things a user should know (an unavailable tier, which nodes a selector chose).
 * *out is always usable.  May allocate; never throws.
 */
LoadResult load_policy(const Settings& s, CompiledPolicy* out, std::vector<std::string>* errors,
                       std::vector<std::string>* notes, LoadInfo* info = nullptr);

}  // namespace tiermalloc::policy
