// SPDX-License-Identifier: MIT
// policy/load_source.cpp -- the cache-miss half of load_policy in this process: the policy's
// YAML (policy/parse_yaml.cpp, yaml-cpp), the environment's overrides, compile.  Linked by
// the command-line tool, the tests and the helper library libtiermalloc-yaml.so
// (interpose/yaml_helper.cpp), never by the preload library itself.
#include "policy/compile.hpp"
#include "policy/load.hpp"
#include "policy/model.hpp"

namespace tiermalloc::policy {

LoadResult compile_from_source(const Settings& s, const topo::Machine& machine, CompiledPolicy* out,
                               std::vector<std::string>* errors, std::vector<std::string>* notes,
                               std::vector<std::string>* programs) {
  PolicySpec spec;
  std::vector<Problem> problems;
  if (!parse_policy_file(s.policy_path, &spec, &problems)) {
    for (const auto& p : problems) errors->push_back(p.str());
    return LoadResult::kError;
  }
  if (!program_matches(spec.programs, s.program)) {
    notes->push_back(not_for_program(s));
    return LoadResult::kPlain;
  }
  if (!apply_overrides(s.overrides, &spec, &problems)) {
    for (const auto& p : problems) errors->push_back(p.str());
    return LoadResult::kError;
  }
  spec.hbw_threshold = s.hbw_threshold;
  if (!compile_policy(spec, machine, out, &problems, notes)) {
    for (const auto& p : problems) errors->push_back(p.str());
    return LoadResult::kError;
  }
  *programs = spec.programs;
  return LoadResult::kLoaded;
}

LoadResult load_policy(const Settings& s, CompiledPolicy* out, std::vector<std::string>* errors,
                       std::vector<std::string>* notes, LoadInfo* info) {
  return load_policy_with(compile_from_source, s, out, errors, notes, info);
}

}  // namespace tiermalloc::policy
