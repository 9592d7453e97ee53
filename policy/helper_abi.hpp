// SPDX-License-Identifier: MIT
// policy/helper_abi.hpp -- the C interface of libtiermalloc-yaml.so, the helper library that
// parses and compiles a policy for the preload library.
//
// The preload library reads a compiled policy from the cache (policy/cache.hpp) without any
// YAML; only on a miss (or with TIERMALLOC_CACHE=0) does it dlopen the helper, installed next
// to itself, and call tiermalloc_yaml_compile.  Nothing C++ crosses: plain strings in, the
// plain-data CompiledPolicy and one callback per message line out.  The two libraries come
// from one build; the ABI number and sizeof(CompiledPolicy) are checked all the same.
#pragma once
#include <cstdint>

#include "policy/compiled.hpp"

extern "C" {

inline constexpr uint32_t kTiermallocYamlAbi = 1;

/** What a message line is. */
enum TiermallocYamlLine : int {
  kTmYamlError = 0,    // "FILE:L:C: message"
  kTmYamlNote = 1,     // an unavailable tier, which nodes a selector chose...
  kTmYamlProgram = 2,  // one of the policy's `programs:` globs (the cache keeps them)
};

struct TiermallocYamlRequest {
  uint32_t abi;                // kTiermallocYamlAbi
  uint32_t policy_size;        // sizeof(tiermalloc::CompiledPolicy)
  const char* policy_path;     // TIERMALLOC_POLICY
  const char* program;         // the executable's path, for `programs:`
  double hbw_threshold;        // TIERMALLOC_HBW_THRESHOLD, 0 = default
  const char* sysfs_root;      // "" = /sys/devices/system/node
  const char* const* env;      // the overrides as "NAME=VALUE" strings, null-terminated
  void* ctx;
  void (*line)(void* ctx, int kind, const char* text);
};

/** Returns a policy::LoadResult (0 plain, 1 loaded, 2 error); *out is the compiled policy
 *  when loaded.  Never throws. */
int tiermalloc_yaml_compile(const TiermallocYamlRequest* req, tiermalloc::CompiledPolicy* out);
using TiermallocYamlCompileFn = int (*)(const TiermallocYamlRequest*, tiermalloc::CompiledPolicy*);

}  // extern "C"
