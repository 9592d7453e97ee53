// SPDX-License-Identifier: MIT
// policy/load.cpp -- settings -> parsed model -> compiled policy, for this machine.
#include "policy/load.hpp"

#include "policy/compile.hpp"
#include "policy/model.hpp"
#include "topology/topology.hpp"

namespace tiermalloc::policy {

LoadResult load_policy(const Settings& s, CompiledPolicy* out, std::vector<std::string>* errors,
                       std::vector<std::string>* notes) {
  plain_policy(out);
  if (s.disable) return LoadResult::kPlain;
  if (s.policy_path.empty()) {
    if (s.overrides.empty()) return LoadResult::kPlain;
    errors->push_back("TIERMALLOC_RULES, _DEFAULT_TIER and _TIER_*_LIMIT refine a policy: set TIERMALLOC_POLICY too");
    return LoadResult::kError;
  }
  try {
    PolicySpec spec;
    std::vector<Problem> problems;
    if (!parse_policy_file(s.policy_path, &spec, &problems)) {
      for (const auto& p : problems) errors->push_back(p.str());
      return LoadResult::kError;
    }
    if (!spec.programs.empty()) {
      std::string base = s.program.substr(s.program.find_last_of('/') + 1);
      bool match = false;
      for (const auto& g : spec.programs) match = match || glob_match(g, base) || glob_match(g, s.program);
      if (!match) {
        notes->push_back("policy " + s.policy_path + " does not apply to '" + base + "' (programs:); plain allocation");
        return LoadResult::kPlain;
      }
    }
    if (!apply_overrides(s.overrides, &spec, &problems)) {
      for (const auto& p : problems) errors->push_back(p.str());
      return LoadResult::kError;
    }
    spec.hbw_threshold = s.hbw_threshold;
    topo::Machine machine = s.sysfs_root.empty() ? topo::load_sysfs() : topo::load_sysfs(s.sysfs_root);
    if (!compile_policy(spec, machine, out, &problems, notes)) {
      for (const auto& p : problems) errors->push_back(p.str());
      return LoadResult::kError;
    }
    return LoadResult::kLoaded;
  } catch (const std::exception& e) {
    plain_policy(out);
    errors->push_back(s.policy_path + ": " + e.what());
    return LoadResult::kError;
  }
}

}  // namespace tiermalloc::policy
