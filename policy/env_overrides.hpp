// SPDX-License-Identifier: MIT
// policy/env_overrides.hpp -- the TIERMALLOC_* variables that patch a parsed policy.
// Precedence: built-in < policy file < environment.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "policy/model.hpp"

namespace tiermalloc::policy {

struct EnvOverrides {
  std::string rules;           // TIERMALLOC_RULES: "size>=64MiB:scratch;function=foo*,api=new:hbm"
  std::string default_tier;    // TIERMALLOC_DEFAULT_TIER
  std::string transient_path;  // TIERMALLOC_TRANSIENT_PATH
  std::vector<std::pair<std::string, std::string>> limits;  // TIERMALLOC_TIER_<NAME>_LIMIT: NAME, value
  bool empty() const { return rules.empty() && default_tier.empty() && transient_path.empty() && limits.empty(); }
};

/** Collects the overrides from an environment block (name=value strings). */
EnvOverrides overrides_from_environ(char** env);

/** Parses TIERMALLOC_RULES; problems are "TIERMALLOC_RULES:1:COLUMN: ...". */
bool parse_rules_short(const std::string& text, std::vector<RuleSpec>* out, std::vector<Problem>* problems);

/** Applies the overrides to a parsed policy (env rules go first). False on any problem. */
bool apply_overrides(const EnvOverrides& env, PolicySpec* spec, std::vector<Problem>* problems);

}  // namespace tiermalloc::policy
