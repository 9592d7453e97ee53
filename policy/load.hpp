// SPDX-License-Identifier: MIT
// policy/load.hpp -- from the process's settings to a CompiledPolicy: the one call the
// preload library makes at start-up (and `tiermalloc check` makes to show the same result).
#pragma once
#include <string>
#include <vector>

#include "policy/compiled.hpp"
#include "policy/env_overrides.hpp"
#include "topology/topology.hpp"

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

/** The cache-miss half of a load: parse the file, match `programs:` (*programs receives its
 *  globs, for the cache), apply the overrides, compile for this machine.  kPlain when
 *  `programs:` does not name the program (a note says so).  May throw. */
using CompileFn = LoadResult (*)(const Settings& s, const topo::Machine& machine, CompiledPolicy* out,
                                 std::vector<std::string>* errors, std::vector<std::string>* notes,
                                 std::vector<std::string>* programs);

/**
 * Loads, checks and compiles.  *errors receives one line per problem ("FILE:L:C: message"),
 * *notes the things a user should know (an unavailable tier, which nodes a selector chose).
 * *out is always usable.  May allocate; never throws.
 *
 * load_policy_with leaves the miss to `compile` (the preload library's: in the helper library,
 * interpose/yaml_helper.cpp, so that a process whose policy is cached never loads yaml-cpp);
 * load_policy compiles in this process (policy/load_source.cpp, linked with yaml-cpp).
 */
LoadResult load_policy_with(CompileFn compile, const Settings& s, CompiledPolicy* out, std::vector<std::string>* errors,
                            std::vector<std::string>* notes, LoadInfo* info = nullptr);
LoadResult load_policy(const Settings& s, CompiledPolicy* out, std::vector<std::string>* errors,
                       std::vector<std::string>* notes, LoadInfo* info = nullptr);

/** The miss half in this process: parse_policy_file (yaml-cpp), overrides, compile_policy. */
LoadResult compile_from_source(const Settings& s, const topo::Machine& machine, CompiledPolicy* out,
                               std::vector<std::string>* errors, std::vector<std::string>* notes,
                               std::vector<std::string>* programs);

/** `programs:` globs against the program's path or base name; true when there are none. */
bool program_matches(const std::vector<std::string>& programs, const std::string& program);
/** The note when `programs:` does not name this program. */
std::string not_for_program(const Settings& s);

}  // namespace tiermalloc::policy
