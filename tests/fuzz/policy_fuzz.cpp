// SPDX-License-Identifier: MIT
// tests/fuzz/policy_fuzz.cpp -- libFuzzer target for everything that reads a person's text:
// the YAML policy (parse, then compile against a DRAM+CXL+HBM machine), the TIERMALLOC_RULES
// short form, sizes and size conditions.  Any crash, sanitizer report, hang or leak fails.
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

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const topo::Machine m = machine();
  std::string text(reinterpret_cast<const char*>(data), size);
  policy::PolicySpec spec;
  std::vector<policy::Problem> problems;
  std::vector<std::string> notes;
  if (policy::parse_policy_text(text, "fuzz.yaml", &spec, &problems)) {
    auto c = std::make_unique<CompiledPolicy>();
    if (policy::compile_policy(spec, m, c.get(), &problems, &notes)) {
      int rule;
      for (uint64_t s : {uint64_t{0}, uint64_t{1} << 20, UINT64_MAX})
        for (int a = 0; a < kApiCount; ++a)
          if (c->plan.api[a].tier_of(s) != static_cast<unsigned>(c->plan.tier_for(s, 1u << a, &rule))) __builtin_trap();
    }
  }
  for (const auto& p : problems) (void)p.str();
  std::vector<policy::RuleSpec> rules;
  policy::parse_rules_short(text, &rules, &problems);
  uint64_t v;
  policy::SizeRange r;
  std::string err;
  policy::parse_size(text, &v, &err);
  policy::parse_size_range(text, &r, &err);
  return 0;
}
