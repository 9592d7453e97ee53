// SPDX-License-Identifier: MIT
// policy/load.cpp -- settings -> parsed model -> compiled policy, for this machine.
#include "policy/load.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "policy/cache.hpp"
#include "policy/compile.hpp"
#include "policy/model.hpp"
#include "topology/topology.hpp"

namespace tiermalloc::policy {
namespace {

// Read straight into *out: no stdio FILE and no 8 KiB buffer on the stack, two more pages of
// the main thread's stack that every process under a policy wrote (issue 7).
bool read_text(const std::string& path, std::string* out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  size_t chunk = fstat(fd, &st) == 0 && st.st_size > 0 ? static_cast<size_t>(st.st_size) + 1 : 4096;
  bool ok = true;
  for (;;) {
    size_t have = out->size();
    out->resize(have + chunk);
    ssize_t n = read(fd, &(*out)[have], chunk);
    int err = errno;
    out->resize(have + (n > 0 ? static_cast<size_t>(n) : 0));
    if (n > 0) {
      chunk = 4096;
      continue;
    }
    if (n < 0 && err == EINTR) continue;
    ok = n == 0;  // end of file; otherwise a read error (a directory: EISDIR)
    break;
  }
  close(fd);
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
