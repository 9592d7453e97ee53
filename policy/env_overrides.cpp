// SPDX-License-Identifier: MIT
// policy/env_overrides.cpp -- TIERMALLOC_RULES (short form), TIERMALLOC_DEFAULT_TIER,
// TIERMALLOC_TIER_<NAME>_LIMIT and TIERMALLOC_TRANSIENT_PATH applied over the file.
#include "policy/env_overrides.hpp"

#include <cctype>
#include <cstring>

namespace tiermalloc::policy {
namespace {

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

EnvOverrides overrides_from_environ(char** env) {
  EnvOverrides o;
  static const char kTier[] = "TIERMALLOC_TIER_";
  static const char kLimit[] = "_LIMIT";
  for (char** e = env; e && *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (!eq) continue;
    std::string name(*e, static_cast<size_t>(eq - *e)), value(eq + 1);
    if (name == "TIERMALLOC_RULES") o.rules = value;
    else if (name == "TIERMALLOC_DEFAULT_TIER") o.default_tier = value;
    else if (name == "TIERMALLOC_TRANSIENT_PATH") o.transient_path = value;
    else if (name.size() > sizeof kTier - 1 + sizeof kLimit - 1 && name.compare(0, sizeof kTier - 1, kTier) == 0 &&
             name.compare(name.size() - (sizeof kLimit - 1), sizeof kLimit - 1, kLimit) == 0)
      o.limits.emplace_back(name.substr(sizeof kTier - 1, name.size() - (sizeof kTier - 1) - (sizeof kLimit - 1)), value);
  }
  return o;
}

bool parse_rules_short(const std::string& text, std::vector<RuleSpec>* out, std::vector<Problem>* problems) {
  size_t before = problems->size();
  auto problem = [&](size_t col, const std::string& msg) {
    problems->push_back({"TIERMALLOC_RULES", Loc{1, static_cast<int>(col) + 1}, msg});
  };
  size_t pos = 0;
  int index = 0;
  while (pos <= text.size()) {
    size_t end = text.find(';', pos);
    if (end == std::string::npos) end = text.size();
    std::string rule = text.substr(pos, end - pos);
    size_t start = pos;
    pos = end + 1;
    if (rule.find_first_not_of(" \t") == std::string::npos) {
      if (end == text.size()) break;
      continue;
    }
    ++index;
    RuleSpec r;
    r.name = "env-" + std::to_string(index);
    r.origin = "TIERMALLOC_RULES";
    r.loc = Loc{1, static_cast<int>(start) + 1};
    size_t colon = rule.rfind(':');
    if (colon == std::string::npos) {
      problem(start, "rule '" + rule + "' has no ':TIER' (expected CONDITION[,CONDITION...]:TIER)");
      continue;
    }
    r.tier = rule.substr(colon + 1);
    r.tier_loc = Loc{1, static_cast<int>(start + colon) + 2};
    if (r.tier.empty()) problem(start + colon + 1, "no tier after ':' (expected a tier name)");
    size_t cpos = 0;
    std::string conds = rule.substr(0, colon);
    while (cpos <= conds.size()) {
      size_t cend = conds.find(',', cpos);
      if (cend == std::string::npos) cend = conds.size();
      std::string c = conds.substr(cpos, cend - cpos);
      size_t col = start + cpos;
      cpos = cend + 1;
      std::string err;
      if (c.compare(0, 4, "size") == 0) {
        std::string cond = c.substr(4);
        if (!cond.empty() && cond[0] == '=' && cond.find("..") != std::string::npos) cond = cond.substr(1);
        if (!parse_size_range(cond, &r.size, &err)) problem(col + 4, err);
        r.has_size = true;
      } else if (c.compare(0, 9, "function=") == 0) {
        r.function.push_back(c.substr(9));
        r.site_loc = Loc{1, static_cast<int>(col) + 1};
      } else if (c.compare(0, 7, "module=") == 0) {
        r.module.push_back(c.substr(7));
        r.site_loc = Loc{1, static_cast<int>(col) + 1};
      } else if (c.compare(0, 4, "api=") == 0) {
        r.apis = 0;
        std::string list = c.substr(4);
        size_t a = 0;
        while (a <= list.size()) {
          size_t b = list.find('|', a);
          if (b == std::string::npos) b = list.size();
          std::string name = list.substr(a, b - a);
          uint32_t bit = parse_api(name);
          if (!bit) problem(col + 4 + a, "unknown api '" + name + "' (expected one of " + kApiNames + ")");
          r.apis |= bit;
          a = b + 1;
        }
      } else {
        problem(col, "unknown condition '" + c + "' (expected size<op>N, size=A..B, function=GLOB, module=GLOB or api=A|B)");
      }
      if (cend == conds.size()) break;
    }
    out->push_back(r);
    if (end == text.size()) break;
  }
  return problems->size() == before;
}

bool apply_overrides(const EnvOverrides& env, PolicySpec* spec, std::vector<Problem>* problems) {
  size_t before = problems->size();
  if (!env.rules.empty()) {
    std::vector<RuleSpec> rules;
    parse_rules_short(env.rules, &rules, problems);
    spec->rules.insert(spec->rules.begin(), rules.begin(), rules.end());
  }
  if (!env.default_tier.empty()) {
    spec->default_tier = env.default_tier;
    spec->default_loc = Loc{};
    bool known = false;
    for (const auto& t : spec->tiers) known = known || t.name == env.default_tier;
    if (!known) problems->push_back({"TIERMALLOC_DEFAULT_TIER", {}, "unknown tier '" + env.default_tier + "'"});
  }
  for (const auto& [name, value] : env.limits) {
    std::string var = "TIERMALLOC_TIER_" + name + "_LIMIT";
    TierSpec* tier = nullptr;
    for (auto& t : spec->tiers)
      if (upper(t.name) == name) tier = &t;
    std::string err;
    uint64_t v;
    if (!tier) problems->push_back({var, {}, "no tier named '" + name + "' (case-insensitive) in the policy"});
    else if (!parse_size(value, &v, &err)) problems->push_back({var, {}, err});
    else tier->limit = v;
  }
  if (!env.transient_path.empty())
    for (auto& t : spec->tiers)
      if (t.transient) t.transient_path = env.transient_path;
  return problems->size() == before;
}

}  // namespace tiermalloc::policy
