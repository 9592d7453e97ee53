// SPDX-License-Identifier: MIT
// policy/yaml_helper.cpp -- libtiermalloc-yaml.so: tiermalloc_yaml_compile (policy/helper_abi.hpp)
// around compile_from_source.  Its only export; the policy code and yaml-cpp are linked here so
// that the preload library needs neither on a cache hit.
#include <exception>
#include <string>
#include <vector>

#include "policy/compile.hpp"
#include "policy/helper_abi.hpp"
#include "policy/load.hpp"

using namespace tiermalloc;

extern "C" __attribute__((visibility("default"))) int tiermalloc_yaml_compile(const TiermallocYamlRequest* req,
                                                                              CompiledPolicy* out) {
  if (!req || req->abi != kTiermallocYamlAbi || req->policy_size != sizeof(CompiledPolicy)) {
    if (req && req->line) req->line(req->ctx, kTmYamlError, "libtiermalloc-yaml.so is from another build of tiermalloc than libtiermalloc.so");
    return static_cast<int>(policy::LoadResult::kError);
  }
  policy::Settings s;
  try {
    s.policy_path = req->policy_path ? req->policy_path : "";
    s.program = req->program ? req->program : "";
    s.hbw_threshold = req->hbw_threshold;
    s.sysfs_root = req->sysfs_root ? req->sysfs_root : "";
    s.overrides = policy::overrides_from_environ(const_cast<char**>(req->env));
    topo::Machine machine = s.sysfs_root.empty() ? topo::load_sysfs() : topo::load_sysfs(s.sysfs_root);
    std::vector<std::string> errors, notes, programs;
    policy::LoadResult r = policy::compile_from_source(s, machine, out, &errors, &notes, &programs);
    for (const auto& e : errors) req->line(req->ctx, kTmYamlError, e.c_str());
    for (const auto& n : notes) req->line(req->ctx, kTmYamlNote, n.c_str());
    if (r == policy::LoadResult::kLoaded)
      for (const auto& p : programs) req->line(req->ctx, kTmYamlProgram, p.c_str());
    return static_cast<int>(r);
  } catch (const std::exception& e) {
    policy::plain_policy(out);
    req->line(req->ctx, kTmYamlError, (s.policy_path + ": " + e.what()).c_str());
    return static_cast<int>(policy::LoadResult::kError);
  } catch (...) {
    policy::plain_policy(out);
    req->line(req->ctx, kTmYamlError, (s.policy_path + ": unknown exception").c_str());
    return static_cast<int>(policy::LoadResult::kError);
  }
}
