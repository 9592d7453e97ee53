// SPDX-License-Identifier: MIT
// tests/fuzz/env_fuzz.cpp -- libFuzzer target for the environment overrides: the input, one
// NAME=VALUE per line, is the process's environment block (TIERMALLOC_RULES, _DEFAULT_TIER,
// _TIER_<NAME>_LIMIT, _TRANSIENT_PATH and anything else); it is collected as the library
// does, applied over a fixed policy, and the result compiled; a compiled policy's per-size
// tables must agree with its rules.  Any crash, sanitizer report, hang or leak fails.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "policy/compile.hpp"
#include "policy/env_overrides.hpp"
#include "policy/model.hpp"
#include "tests/fuzz/fuzz_machine.hpp"

using namespace tiermalloc;
using fuzz::machine;

namespace {
const char* kPolicy = R"(version: 1
tiers:
  near: { select: lowest_latency }
  hbm:  { select: highest_bandwidth, limit: 1GiB }
  cxl:  { kind: cxl, mode: bind }
  scratch: { transient: { path: /tmp, size: 1GiB } }
default: near
fallback: [cxl, near]
rules:
  - { name: big, match: { size: ">= 64MiB" }, tier: scratch }
  - { name: hot, match: { function: "hot_*", size: "< 4KiB" }, tier: hbm }
)";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const topo::Machine m = machine();
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> lines;
  for (size_t pos = 0; pos <= text.size();) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  std::vector<char*> env;
  for (auto& l : lines) env.push_back(l.data());
  env.push_back(nullptr);
  policy::EnvOverrides o = policy::overrides_from_environ(env.data());

  policy::PolicySpec spec;
  std::vector<policy::Problem> problems;
  std::vector<std::string> notes;
  if (!policy::parse_policy_text(kPolicy, "fuzz.yaml", &spec, &problems)) __builtin_trap();
  if (policy::apply_overrides(o, &spec, &problems)) {
    auto c = std::make_unique<CompiledPolicy>();
    if (policy::compile_policy(spec, m, c.get(), &problems, &notes)) {
      int rule;
      for (uint64_t s : {uint64_t{0}, uint64_t{4095}, uint64_t{1} << 20, uint64_t{64} << 20, UINT64_MAX})
        for (int a = 0; a < kApiCount; ++a)
          if (c->plan.api[a].tier_of(s) != static_cast<unsigned>(c->plan.tier_for(s, 1u << a, &rule))) __builtin_trap();
    }
  }
  for (const auto& p : problems)
    if (p.str().empty()) __builtin_trap();
  return 0;
}
