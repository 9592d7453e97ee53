// SPDX-License-Identifier: MIT
// policy/compile.cpp -- resolves tier names, selectors and fallback chains into the plain
// data of compiled.hpp.  Runs once per process, on the slow path.
#include "policy/compile.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace tiermalloc::policy {
namespace {

// Truncating copy, always terminated (as snprintf "%s" would; not snprintf: it runs on every
// start-up from the cache, and libc's printf family is pages a C program does not touch).
void copy_name(char* dst, size_t n, const std::string& s) {
  if (n == 0) return;
  size_t k = std::strlen(s.c_str());
  if (k > n - 1) k = n - 1;
  std::memcpy(dst, s.c_str(), k);
  dst[k] = 0;
}

}  // namespace

const char* mode_name(TierMode m) {
  switch (m) {
    case TierMode::kBind: return "bind";
    case TierMode::kInterleave: return "interleave";
    case TierMode::kPreferred: return "preferred";
    default: return "preferred";
  }
}

std::string describe_nodes(const NodeMask& m) {
  std::string s;
  for (int i = 0; i < kNodeWords * 64; ++i)
    if (m.test(i)) s += (s.empty() ? "" : ",") + std::to_string(i);
  return s.empty() ? "-" : s;
}

void plain_policy(CompiledPolicy* out) {
  // Zeroed a page at a time, and only the pages that are not zero already: the preload
  // library's policy lives in .bss, whose untouched pages then stay untouched (not resident).
  auto* p = reinterpret_cast<unsigned char*>(out);
  for (size_t pos = 0; pos < sizeof *out;) {
    size_t n = 4096 - (reinterpret_cast<uintptr_t>(p + pos) & 4095);
    if (n > sizeof *out - pos) n = sizeof *out - pos;
    size_t i = 0;
    for (uint64_t w = 0; i + 8 <= n; i += 8) {
      std::memcpy(&w, p + pos + i, 8);
      if (w) break;
    }
    if (i + 8 <= n || i < n) std::memset(p + pos, 0, n);  // a non-zero word, or an odd tail
    pos += n;
  }
  out->ntiers = 1;
  copy_name(out->tiers[0].name, kNameLen, kPlainTier);
  out->tiers[0].available = true;
  copy_name(out->tiers[0].why, sizeof out->tiers[0].why, "plain allocation, no binding");
  out->plan.default_tier = 0;
  out->plan.build_api_plans();
  out->on_exhausted = OnExhausted::kFallback;
  for (auto& c : out->cpu_node) c = -1;
}

void refresh_bind_budgets(const topo::Machine& machine, CompiledPolicy* c) {
  for (int i = 1; i < c->ntiers; ++i) {
    CompiledTier& ct = c->tiers[i];
    if (!ct.available || ct.mode != TierMode::kBind || ct.limit || ct.transient) continue;
    ct.bind_budget = 0;
    for (const auto& n : machine.nodes)
      if (ct.nodes.test(n.id)) ct.bind_budget += n.free;
  }
}

bool compile_policy(const PolicySpec& spec, const topo::Machine& machine, CompiledPolicy* out,
                    std::vector<Problem>* problems, std::vector<std::string>* notes) {
  size_t before = problems->size();
  auto problem = [&](Loc loc, const std::string& msg) { problems->push_back({spec.file, loc, msg}); };
  CompiledPolicy& c = *out;
  plain_policy(&c);
  copy_name(c.source, sizeof c.source, spec.file);
  c.on_exhausted = spec.on_exhausted;
  for (const auto& n : machine.nodes)
    for (int cpu : n.cpu_ids)
      if (cpu >= 0 && cpu < kMaxCpus) c.cpu_node[cpu] = static_cast<int16_t>(n.id);

  if (static_cast<int>(spec.tiers.size()) > kMaxTiers - 1)
    problem(spec.tiers[kMaxTiers - 1].loc, "too many tiers (at most " + std::to_string(kMaxTiers - 1) + ")");
  for (const auto& t : spec.tiers) {
    if (c.ntiers >= kMaxTiers) break;
    if (t.name == kPlainTier) {
      problem(t.loc, std::string("tier name '") + kPlainTier + "' is reserved for plain allocation");
      continue;
    }
    CompiledTier& ct = c.tiers[c.ntiers++];
    copy_name(ct.name, kNameLen, t.name);
    ct.mode = t.mode;
    ct.limit = t.limit;
    ct.available = false;
    std::string why;
    if (t.transient) {
      ct.transient = true;
      ct.transient_size = t.transient_size;
      struct stat st;
      if (t.transient_path.size() >= sizeof ct.path) {
        why = "transient path is too long";
      } else if (stat(t.transient_path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        why = "transient path " + t.transient_path + " is not a directory here";
      } else if (access(t.transient_path.c_str(), W_OK | X_OK) != 0) {
        why = "transient path " + t.transient_path + " is not writable";
      } else {
        copy_name(ct.path, sizeof ct.path, t.transient_path);
        ct.available = true;
        why = "transient files in " + t.transient_path +
              (t.transient_size ? ", at most " + std::to_string(t.transient_size >> 20) + " MiB" : "");
      }
    } else if (t.has_nodes) {
      std::string missing;
      for (int n : t.nodes) {
        if (machine.find(n)) ct.nodes.set(n);
        else missing += (missing.empty() ? "" : ",") + std::to_string(n);
      }
      if (!missing.empty()) {
        std::string have;
        for (const auto& n : machine.nodes) have += (have.empty() ? "" : ",") + std::to_string(n.id);
        why = "node(s) " + missing + " have no memory on this machine (nodes with memory: " + have + ")";
        ct.nodes = NodeMask{};
      } else {
        ct.available = true;
        why = "nodes " + describe_nodes(ct.nodes) + " as listed";
      }
    } else if (!t.kind.empty()) {
      if (!topo::valid_kind(t.kind)) {
        problem(t.kind_loc, "unknown kind '" + t.kind + "' (expected one of " + topo::kKindNames + ")");
        continue;
      }
      auto pick = topo::select_kind(machine, t.kind);
      for (int n : pick.nodes) ct.nodes.set(n);
      ct.available = !pick.nodes.empty();
      why = "kind " + t.kind + ": node(s) " + describe_nodes(ct.nodes) + ", " + pick.why;
    } else {
      auto sel = topo::parse_selector(t.select);
      if (sel == topo::Selector::kNone) {
        problem(t.select_loc, "unknown selector '" + t.select + "' (expected one of " + topo::kSelectorNames + ")");
        continue;
      }
      auto pick = topo::select_nodes(machine, sel, t.threshold > 0 ? t.threshold : spec.hbw_threshold);
      for (int n : pick.nodes) ct.nodes.set(n);
      ct.available = !pick.nodes.empty();
      why = std::string(topo::selector_name(sel)) + ": node(s) " + describe_nodes(ct.nodes) + ", " + pick.why;
    }
    if (t.per_thread && !t.has_nodes && ct.available && machine.initiators.size() > 1) {
      // One selection per initiator node; identical ones collapse into the process-wide one.
      bool differ = false;
      std::string views;
      for (int ini : machine.initiators) {
        if (ct.nviews == kMaxViews) break;
        topo::Machine v = machine.view_from(ini);
        topo::Selection pick = !t.kind.empty() ? topo::select_kind(v, t.kind)
                                               : topo::select_nodes(v, topo::parse_selector(t.select),
                                                                    t.threshold > 0 ? t.threshold : spec.hbw_threshold);
        if (pick.nodes.empty()) continue;
        NodeMask nm{};
        for (int n : pick.nodes) nm.set(n);
        ct.view_initiator[ct.nviews] = static_cast<int16_t>(ini);
        ct.view_nodes[ct.nviews++] = nm;
        differ = differ || std::memcmp(&nm, &ct.view_nodes[0], sizeof nm) != 0;
        views += (views.empty() ? "" : ", ") + std::string("from node ") + std::to_string(ini) + ": " + describe_nodes(nm);
      }
      if (!differ) ct.nviews = 0;
      else why = "per thread, " + views;
    } else if (t.per_thread && !t.has_nodes && ct.available) {
      notes->push_back("tier '" + t.name + "': initiator: thread, but the process runs on one node's CPUs here: one choice for all threads");
    }
    copy_name(ct.why, sizeof ct.why, why);
    if (!ct.available) notes->push_back("tier '" + t.name + "' cannot be built here: " + why + "; its allocations take the fallback chain");
  }

  auto tier_index = [&](const std::string& name) -> int {
    for (int i = 0; i < c.ntiers; ++i)
      if (name == c.tiers[i].name) return i;
    return -1;
  };
  std::string tier_list = kPlainTier;
  for (int i = 1; i < c.ntiers; ++i) tier_list += std::string(", ") + c.tiers[i].name;
  auto resolve_chain = [&](const std::vector<std::string>& names, Loc loc, uint8_t* dst, uint8_t* n) {
    *n = 0;
    for (const auto& name : names) {
      int i = tier_index(name);
      if (i < 0) problem(loc, "unknown tier '" + name + "' in fallback (expected one of " + tier_list + ")");
      else if (*n < kMaxFallback) dst[(*n)++] = static_cast<uint8_t>(i);
    }
  };

  uint8_t global_chain[kMaxFallback];
  uint8_t nglobal = 0;
  resolve_chain(spec.fallback, spec.fallback_loc, global_chain, &nglobal);
  for (int i = 1; i < c.ntiers; ++i) {
    CompiledTier& ct = c.tiers[i];
    for (int k = 0; k < nglobal; ++k)
      if (global_chain[k] != i) ct.fallback[ct.nfallback++] = global_chain[k];
  }

  // An unavailable tier is replaced, where a plan names it, by the first available tier of
  // its chain, or by plain allocation.
  auto effective = [&](int tier, const uint8_t* chain, int n) -> uint8_t {
    if (c.tiers[tier].available) return static_cast<uint8_t>(tier);
    for (int k = 0; k < n; ++k)
      if (c.tiers[chain[k]].available) return chain[k];
    return 0;
  };

  int def = 0;
  if (!spec.default_tier.empty()) {
    def = tier_index(spec.default_tier);
    if (def < 0) {
      problem(spec.default_loc, "unknown default tier '" + spec.default_tier + "' (expected one of " + tier_list + ")");
      def = 0;
    }
  }
  c.plan.default_tier = effective(def, c.tiers[def].fallback, c.tiers[def].nfallback);

  if (static_cast<int>(spec.rules.size()) > kMaxRules)
    problem(spec.rules[kMaxRules].loc, "too many rules (at most " + std::to_string(kMaxRules) + ")");
  for (const auto& r : spec.rules) {
    if (c.nrules >= kMaxRules) break;
    auto problem = [&](Loc loc, const std::string& msg) {
      problems->push_back({r.origin.empty() ? spec.file : r.origin, loc, msg});
    };
    if (r.module.size() > kMaxPatterns || r.function.size() > kMaxPatterns || r.stack.size() > kMaxPatterns) {
      problem(r.site_loc, "rule '" + r.name + "': at most " + std::to_string(kMaxPatterns) +
                              " module, function and stack patterns each");
      continue;
    }
    bool too_long = false;
    for (const auto& g : r.module) too_long = too_long || g.size() >= kPatternLen;
    for (const auto& g : r.function) too_long = too_long || g.size() >= kPatternLen;
    for (const auto& g : r.stack) too_long = too_long || g.size() >= kPatternLen;
    if (too_long) {
      problem(r.site_loc, "rule '" + r.name + "': patterns must be shorter than " + std::to_string(kPatternLen) + " characters");
      continue;
    }
    int t = tier_index(r.tier);
    if (t < 0) {
      if (!r.tier.empty()) problem(r.tier_loc, "unknown tier '" + r.tier + "' in rule '" + r.name + "' (expected one of " + tier_list + ")");
      continue;
    }
    int ri = c.nrules++;
    CompiledRule& cr = c.rules[ri];
    copy_name(cr.name, kNameLen, r.name);
    cr.tier = static_cast<uint8_t>(t);
    resolve_chain(r.fallback, r.fallback_loc, cr.fallback, &cr.nfallback);
    const uint8_t* chain = cr.nfallback ? cr.fallback : c.tiers[t].fallback;
    int nchain = cr.nfallback ? cr.nfallback : c.tiers[t].nfallback;
    if ((r.apis & kApiMmap) && c.tiers[t].transient) {
      problem(r.tier_loc, "rule '" + r.name + "': api mmap cannot go to transient tier '" + r.tier +
                              "' (anonymous mappings are placed on NUMA tiers only)");
      --c.nrules;
      continue;
    }
    PlanEntry& e = cr.entry;
    e.size_lo = r.size.lo;
    e.size_hi = r.size.hi;
    e.apis = r.apis;
    e.tier = effective(t, chain, nchain);
    e.rule = static_cast<uint8_t>(ri);
    for (const auto& g : r.module) copy_name(cr.module[cr.nmodule++], kPatternLen, g);
    for (const auto& g : r.function) copy_name(cr.function[cr.nfunction++], kPatternLen, g);
    for (const auto& g : r.stack) copy_name(cr.stack[cr.nstack++], kPatternLen, g);
    if (cr.nstack) c.stack_rule_mask |= uint64_t{1} << ri;
    if (cr.has_site()) c.has_site_rules = true;
    else c.site_free_mask |= uint64_t{1} << ri;
    if (r.apis & kApiMmap) c.has_mmap_rules = true;
  }

  c.stack_depth = spec.stack_depth;
  if (spec.wrappers.size() > kMaxWrappers)
    problems->push_back({spec.file, {}, "at most " + std::to_string(kMaxWrappers) + " wrappers"});
  for (const auto& w : spec.wrappers) {
    if (c.nwrappers == kMaxWrappers) break;
    if (w.size() >= kPatternLen) problems->push_back({spec.file, {}, "wrapper pattern '" + w + "' is too long"});
    else copy_name(c.wrappers[c.nwrappers++], kPatternLen, w);
  }
  if (c.nwrappers) c.has_site_rules = true;
  if (problems->size() != before) {
    plain_policy(out);
    return false;
  }
  build_plan(c, c.site_free_mask, &c.plan);
  refresh_bind_budgets(machine, &c);
  return true;
}

}  // namespace tiermalloc::policy
