// SPDX-License-Identifier: MIT
// interpose/yaml_loader.cpp -- the preload library's cache miss: libtiermalloc-yaml.so, next to
// this library, parses and compiles the policy (policy/helper_abi.hpp).  Loaded only when the
// compiled policy is not in the cache, so that a process whose policy is cached maps neither
// yaml-cpp nor the libstdc++ it needs.  Never unloaded (yaml-cpp registers exit handlers).
#include <dlfcn.h>

#include <string>
#include <vector>

#include "interpose/runtime.hpp"
#include "policy/helper_abi.hpp"
#include "policy/load.hpp"

namespace tiermalloc::rt {
namespace {

struct Sink {
  std::vector<std::string>* errors;
  std::vector<std::string>* notes;
  std::vector<std::string>* programs;
};

void on_line(void* ctx, int kind, const char* text) {
  Sink* s = static_cast<Sink*>(ctx);
  (kind == kTmYamlError ? s->errors : kind == kTmYamlNote ? s->notes : s->programs)->push_back(text);
}

// DIR/libtiermalloc-yaml.so, DIR being where this library was loaded from.
std::string helper_path() {
  Dl_info info{};
  if (!dladdr(reinterpret_cast<void*>(&helper_path), &info) || !info.dli_fname) return "libtiermalloc-yaml.so";
  std::string self = info.dli_fname;
  size_t slash = self.find_last_of('/');
  return (slash == std::string::npos ? std::string() : self.substr(0, slash + 1)) + "libtiermalloc-yaml.so";
}

}  // namespace

policy::LoadResult compile_in_helper(const policy::Settings& s, const topo::Machine&, CompiledPolicy* out,
                                     std::vector<std::string>* errors, std::vector<std::string>* notes,
                                     std::vector<std::string>* programs) {
  // Out of load mode while the helper is loaded and runs (runtime.hpp): its allocations
  // are many and some stay; they take the plain heap.
  struct Pause {
    bool paused = load_pause();
    ~Pause() { load_resume(paused); }
  } pause;
  static TiermallocYamlCompileFn fn = nullptr;
  if (!fn) {
    std::string path = helper_path();
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h) fn = reinterpret_cast<TiermallocYamlCompileFn>(dlsym(h, "tiermalloc_yaml_compile"));
    if (!fn) {
      const char* why = dlerror();
      errors->push_back(std::string("cannot load the policy compiler: ") + (why ? why : path.c_str()) + " (needed for " +
                        s.policy_path + ", whose compiled form is not cached)");
      return policy::LoadResult::kError;
    }
  }
  // The overrides as the environment gave them (the helper parses them again).
  std::vector<std::string> env;
  if (!s.overrides.rules.empty()) env.push_back("TIERMALLOC_RULES=" + s.overrides.rules);
  if (!s.overrides.default_tier.empty()) env.push_back("TIERMALLOC_DEFAULT_TIER=" + s.overrides.default_tier);
  if (!s.overrides.transient_path.empty()) env.push_back("TIERMALLOC_TRANSIENT_PATH=" + s.overrides.transient_path);
  for (const auto& [name, value] : s.overrides.limits) env.push_back("TIERMALLOC_TIER_" + name + "_LIMIT=" + value);
  std::vector<const char*> envp;
  for (const auto& e : env) envp.push_back(e.c_str());
  envp.push_back(nullptr);
  Sink sink{errors, notes, programs};
  TiermallocYamlRequest req{kTiermallocYamlAbi, sizeof(CompiledPolicy), s.policy_path.c_str(), s.program.c_str(),
                            s.hbw_threshold, s.sysfs_root.c_str(), envp.data(), &sink, on_line};
  return static_cast<policy::LoadResult>(fn(&req, out));
}

}  // namespace tiermalloc::rt
