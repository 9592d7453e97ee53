// SPDX-License-Identifier: MIT
// policy/load.cpp -- settings -> parsed model -> compiled policy, for this machine.
#include "policy/load.hpp"

#include <cerrno>
#include <cstdio>

#include "policy/cache.hpp"
#include "policy/compile.hpp"
#include "policy/model.hpp"
#include "topology/topology.hpp"

namespace tiermalloc::policy {
namespace {

bool read_text(const std::string& path, std::string* out) {
  FILE* f = std::fopen(path.c_str(), "re");
  if (!f) return false;
  char buf[8192];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out->append(buf, n);
  bool ok = !std::ferror(f);
  std::fclose(f);
  return ok;
}

std::string overrides_text(const EnvOverrides& o) {
  std::string t = o.rules + '\0' + o.default_tier + '\0' + o.transient_path + '\0';
  for (const auto& [name, value] : o.limits) t += name + '=' + value + '\0';
  return t;
}

}  // namespace

bool program_matches(const std::vector<std::string>& programs, const std::string& program) {
  if (programs.empty()) return true;
  std::string base = program.substr(program.find_last_of('/') + 1);
  for (const auto& g : programs)
    if (glob_match(g, base) || glob_match(g, program)) return true;
  return false;
}

std::string not_for_program(const Settings& s) {
  return "policy " + s.policy_path + " does not apply to '" + s.program.substr(s.program.find_last_of('/') + 1) +
         "' (programs:); plain allocation";
}

LoadResult load_policy_with(CompileFn compile, const Settings& s, CompiledPolicy* out, std::vector<std::string>* errors,
                            std::vector<std::string>* notes, LoadInfo* info) {
  LoadInfo scratch;
  if (!info) info = &scratch;
  plain_policy(out);
  if (s.disable) return LoadResult::kPlain;
  if (s.policy_path.empty()) {
    if (s.overrides.empty()) return LoadResult::kPlain;
    errors->push_back("TIERMALLOC_RULES, _DEFAULT_TIER and _TIER_*_LIMIT refine a policy: set TIERMALLOC_POLICY too");
    return LoadResult::kError;
  }
  try {
    // The cache: the machine is read first (it is part of the key), the policy's text too.
    topo::Machine machine;
    bool have_machine = false;
    std::string key;
    if (!s.cache_dir.empty()) {
      std::string text;
      if (read_text(s.policy_path, &text)) {
        machine = s.sysfs_root.empty() ? topo::load_sysfs() : topo::load_sysfs(s.sysfs_root);
        have_machine = true;
        key = cache_key(text, s.policy_path, s.hbw_threshold, s.sysfs_root, overrides_text(s.overrides), machine);
        std::vector<std::string> programs, cached_notes;
        if (cache_read(s.cache_dir, key, out, &cached_notes, &programs, &info->cache_file)) {
          info->from_cache = true;
          if (!program_matches(programs, s.program)) {  // `programs:` is decided per process
            plain_policy(out);
            notes->push_back(not_for_program(s));
            return LoadResult::kPlain;
          }
          notes->insert(notes->end(), cached_notes.begin(), cached_notes.end());
          refresh_bind_budgets(machine, out);
          return LoadResult::kLoaded;
        }
      }
    }
    if (!have_machine) machine = s.sysfs_root.empty() ? topo::load_sysfs() : topo::load_sysfs(s.sysfs_root);
    size_t first_note = notes->size();
    std::vector<std::string> programs;
    LoadResult r = compile(s, machine, out, errors, notes, &programs);
    if (r != LoadResult::kLoaded) {
      plain_policy(out);
      return r;
    }
    bool transient = false;
    for (int i = 0; i < out->ntiers; ++i) transient = transient || out->tiers[i].transient;
    if (!key.empty() && !transient)
      info->cached = cache_write(s.cache_dir, key, *out,
                                 std::vector<std::string>(notes->begin() + static_cast<long>(first_note), notes->end()),
                                 programs);
    return LoadResult::kLoaded;
  } catch (const std::exception& e) {
    plain_policy(out);
    errors->push_back(s.policy_path + ": " + e.what());
    return LoadResult::kError;
  }
}

}  // namespace tiermalloc::policy
