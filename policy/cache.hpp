// SPDX-License-Identifier: MIT
// policy/cache.hpp -- the compiled form of a policy, kept between processes.
//
// Parsing the YAML (yaml-cpp) and compiling cost a short process more than everything else
// tiermalloc does at start-up (`true` under bench/policies/suite-ten-rules.yaml: 2.9M of 6.2M
// instructions).  The preload library keeps the result of load_policy() in a file per
// (policy text, settings, machine, library build) and the next process with the same inputs
// reads it back instead.  What can change between processes without changing the key is
// recomputed after a read (the free memory behind bind budgets, compile's only use of it); a
// policy with a transient tier (whose directory may appear or fill up) is never cached, nor
// is a policy with errors.
#pragma once
#include <string>
#include <vector>

#include "policy/compiled.hpp"
#include "topology/topology.hpp"

namespace tiermalloc::policy {

/** Everything the compiled policy depends on, as bytes: compared whole on a read, so a hash
 *  collision can never hand a process another policy. */
std::string cache_key(const std::string& policy_text, const std::string& policy_path, double hbw_threshold, const std::string& sysfs_root, const std::string& overrides,
                      const topo::Machine& machine);

/** Reads DIR/<hash of key>.tmpc into *out, *notes and *programs (the policy's `programs:`
 *  globs, which the caller matches against this process: the program is not in the key, so
 *  one file serves every program); false (and nothing changed) unless the file is ours
 *  (owner, regular, not a link, closed to others), complete and holds exactly this key. */
bool cache_read(const std::string& dir, const std::string& key, CompiledPolicy* out, std::vector<std::string>* notes,
                std::vector<std::string>* programs, std::string* file);

/** Writes it (a temporary file renamed into place: readers see all or nothing).  Creates DIR
 *  (mode 0700) if needed; refuses a DIR that is not a directory owned by us, closed to others. */
bool cache_write(const std::string& dir, const std::string& key, const CompiledPolicy& c,
                 const std::vector<std::string>& notes, const std::vector<std::string>& programs);

/** Where the preload library keeps it: TIERMALLOC_CACHE_DIR if set, else
 *  $XDG_RUNTIME_DIR/tiermalloc, else /tmp/tiermalloc-<uid>; "" when TIERMALLOC_CACHE=0.
 *  The values are passed in (the caller has filtered the environment for AT_SECURE). */
std::string default_cache_dir(const char* cache_env, const char* cache_dir_env, const char* xdg_runtime_dir);

}  // namespace tiermalloc::policy
