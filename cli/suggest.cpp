// SPDX-License-Identifier: MIT
// cli/suggest.cpp -- `tiermalloc suggest PROFILE [--budget TIER=SIZE]... [-o FILE]`: a
// commented YAML policy from a profile (`tiermalloc record`), fitted to the budgets.
//
//   scratch   large, short-lived temporaries -> file-backed transient space
//   capacity  large, long-lived blocks        -> the highest-capacity memory (CXL)
//   fast      the hottest small working set   -> high-bandwidth memory, within its budget
//   dram      everything else                 -> the default
//
// Each rule names the site's module and function (module and size only when the function is
// unknown) and the sizes its histogram saw.  Before writing, the policy is parsed and compiled
// with the library's own code and every profiled site is matched against it, as the library
// would match it: a rule that would take far more than its sites is dropped, smaller overlaps
// are said in comments, and the output always passes `tiermalloc check`.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cli/common.hpp"
#include "cli/json.hpp"
#include "policy/compile.hpp"
#include "policy/match.hpp"
#include "policy/model.hpp"
#include "topology/topology.hpp"

namespace tiermalloc::cli {
namespace {

struct Bucket {
  uint64_t lo, hi, count;
};
struct PSite {
  std::string module, function, offset, api;
  uint64_t allocations = 0, frees = 0, bytes = 0, peak = 0, size_min = 0, size_max = 0, live_at_exit = 0;
  double life_mean = 0, life_max = 0, peak_share = -1;
  std::vector<Bucket> hist;
  std::string where() const {
    return (function.empty() ? std::string("?") : function) + " in " + module + (offset.empty() ? "" : " @" + offset);
  }
};
struct Profile {
  std::string file, program;
  uint64_t pid = 0, elapsed_ms = 0, bytes_peak = 0, allocations = 0;
  std::vector<PSite> sites;
};

const char* kTierNames[] = {"fast", "dram", "capacity", "scratch"};
enum TierId { kFast, kDram, kCapacity, kScratch, kNumTiers };

Profile load(const std::string& path) {
  json::Value doc = load_json(path, "suggest");
  Reader r{"suggest", path};
  if (!doc.is_object()) r.bad(doc, "the document", "an object (a tiermalloc profile)");
  const json::Value* kind = doc.get("kind");
  if (!kind || !kind->is_string() || kind->str != "profile")
    fail("suggest: " + path + " is not a profile (expected \"kind\": \"profile\", written by 'tiermalloc record'" +
         (doc.get("tiers") ? "; this looks like statistics: give them to 'tiermalloc report')" : ")"));
  const json::Value* ver = doc.get("version");
  if (!ver || !ver->is_uint || ver->uint != 1)
    fail("suggest: " + path + ":" + std::to_string(ver ? ver->line : 1) + ":" + std::to_string(ver ? ver->col : 1) +
         ": unsupported or missing version (expected 1)");
  Profile p;
  p.file = path;
  p.program = r.str(doc, "program", "");
  p.pid = r.u64(doc, "pid", "");
  p.elapsed_ms = r.u64(doc, "elapsed_ms", "");
  p.bytes_peak = r.u64(doc, "bytes_peak", "");
  const json::Value& sites = r.array(doc, "sites", "the document", true);
  for (size_t i = 0; i < sites.items.size(); ++i) {
    const json::Value& j = sites.items[i];
    std::string w = "sites[" + std::to_string(i) + "]";
    if (!j.is_object()) r.bad(j, w, "an object");
    PSite s;
    s.module = r.str(j, "module", w);
    s.function = r.str(j, "function", w);
    s.offset = r.str(j, "offset", w);
    s.api = r.str(j, "api", w, "malloc");
    s.allocations = r.u64(j, "allocations", w);
    s.frees = r.u64(j, "frees", w);
    s.bytes = r.u64(j, "bytes", w);
    s.peak = r.u64(j, "bytes_peak", w);
    s.size_min = r.u64(j, "size_min", w);
    s.size_max = r.u64(j, "size_max", w);
    s.live_at_exit = r.u64(j, "live_at_exit", w);
    s.peak_share = r.num(j, "peak_share", w, -1);
    const json::Value& life = r.object(j, "lifetime_ms", w, false);
    s.life_mean = r.num(life, "mean", w + ".lifetime_ms");
    s.life_max = r.num(life, "max", w + ".lifetime_ms");
    for (const json::Value& b : r.array(j, "histogram", w, false).items) {
      if (!b.is_array() || b.items.size() != 3 || !b.items[0].is_uint || !b.items[1].is_uint || !b.items[2].is_uint ||
          b.items[0].uint > b.items[1].uint)
        r.bad(b, w + ".histogram", "[lo, hi, count] buckets with lo <= hi");
      s.hist.push_back({b.items[0].uint, b.items[1].uint, b.items[2].uint});
    }
    std::sort(s.hist.begin(), s.hist.end(), [](const Bucket& a, const Bucket& b) { return a.lo < b.lo; });
    if (s.hist.empty() && s.allocations) s.hist.push_back({s.size_min, std::max(s.size_min, s.size_max), s.allocations});
    if (!s.size_max && !s.hist.empty()) {
      s.size_min = s.hist.front().lo;
      s.size_max = s.hist.back().hi;
    }
    p.allocations += s.allocations;
    p.sites.push_back(std::move(s));
  }
  return p;
}

// ---- the plan: which site goes where -----------------------------------------------------------

struct Options {
  uint64_t budget[kNumTiers] = {};
  bool has_budget[kNumTiers] = {};
  std::string scratch_path = "/mnt/pmem0";
  uint64_t large = 4 << 20;    // --large: below it, a block is small (pymalloc's 1 MiB arenas are)
  std::string command;  // as run, for the header
};

struct Choice {
  int tier = kDram;       // where the plan puts the site (its large buckets, for scratch)
  std::string why;        // the figures that decided it
  bool rule_all_sizes = true;  // false: only the buckets at or above --large
  bool nameless = false;       // no module to name: stays on the default tier
};

/** A live-bytes figure for budgets: the site's share of the process peak when the profile
 *  has one, else its own peak (an upper bound: sites do not all peak together). */
uint64_t at_peak(const Profile& p, const PSite& s) {
  if (s.peak_share >= 0) return static_cast<uint64_t>(s.peak_share * static_cast<double>(p.bytes_peak));
  return s.peak;
}

std::string ms(double v) {
  char b[32];
  std::snprintf(b, sizeof b, v >= 1000 ? "%.1f s" : v >= 0.1 || v == 0 ? "%.1f ms" : "%.3f ms", v >= 1000 ? v / 1000 : v);
  return b;
}

std::string sizes_text(uint64_t lo, uint64_t hi) {
  return lo == hi ? human_bytes(lo) : human_bytes(lo) + ".." + human_bytes(hi);
}

double heat(const PSite& s) { return static_cast<double>(s.allocations) / static_cast<double>(std::max<uint64_t>(s.peak, 1)); }

// ---- rules ---------------------------------------------------------------------------------

struct Rule {
  std::string name;
  int tier;
  std::string module, function;  // glob patterns (escaped)
  uint64_t lo, hi;
  bool mmap;
  std::vector<size_t> sites;     // the sites it is for
  std::vector<std::string> comment;
  bool dropped = false;
};

/** A literal as an fnmatch pattern: * ? [ ] \ escaped.  Longer than the policy allows: a
 *  prefix and '*' (a wider pattern; the overlap check below says what it takes). */
std::string literal_glob(const std::string& s, bool* widened) {
  std::string o;
  *widened = false;
  for (char c : s) {
    std::string piece = (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    if (o.size() + piece.size() >= static_cast<size_t>(kPatternLen) - 1) {
      *widened = true;
      return o + "*";
    }
    o += piece;
  }
  return o;
}

std::string yaml_quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? "''" : std::string(1, c);
  return o + "'";
}

std::string rule_name(int tier, const PSite& s, std::set<std::string>* used) {
  std::string base = std::string(kTierNames[tier]) + "-" + (s.function.empty() ? s.module : s.function);
  std::string clean;
  for (char c : base) clean += (isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  if (clean.size() > 40) clean.resize(40);
  std::string name = clean;
  for (int k = 2; used->count(name); ++k) name = clean + "-" + std::to_string(k);
  used->insert(name);
  return name;
}

std::string size_condition(uint64_t lo, uint64_t hi) {
  if (lo == hi) return "== " + policy_size(lo);
  return policy_size(lo) + ".." + policy_size(hi);
}

uint32_t api_bit(const std::string& api) {
  if (api == "calloc") return kApiCalloc;
  if (api == "realloc" || api == "reallocarray") return kApiRealloc;
  if (api == "aligned" || api == "posix_memalign" || api == "aligned_alloc" || api == "memalign" || api == "valloc" ||
      api == "pvalloc")
    return kApiAligned;
  if (api == "new") return kApiNew;
  if (api == "mmap") return kApiMmap;
  return kApiMalloc;
}

struct Written {
  std::vector<int> tiers;  // which of kTierNames appear
  std::vector<Rule> rules;
};

std::string tiers_yaml(const Options& o, const Written& w, const Profile& p, const std::vector<Choice>& plan) {
  std::string y = "tiers:\n";
  for (int t : w.tiers) {
    std::string def, note;
    std::string lim = o.has_budget[t] ? ", limit: " + policy_size(o.budget[t]) : "";
    switch (t) {
      case kFast:
        def = "{ select: highest_bandwidth" + lim + " }";
        note = "HBM or the like" + std::string(o.has_budget[t] ? "; --budget fast=" + policy_size(o.budget[t]) : "");
        break;
      case kDram:
        def = "{ select: lowest_latency" + lim + " }";
        note = "the DRAM next to the CPUs: the default" +
               std::string(o.has_budget[t] ? "; --budget dram=" + policy_size(o.budget[t]) : "");
        break;
      case kCapacity:
        def = "{ select: highest_capacity" + lim + " }";
        note = "CXL or other big memory (or { kind: cxl })" +
               std::string(o.has_budget[t] ? "; --budget capacity=" + policy_size(o.budget[t]) : "");
        break;
      case kScratch:
        def = "{ transient: { path: " + yaml_quote(o.scratch_path) +
              (o.has_budget[t] ? ", size: " + policy_size(o.budget[t]) : "") + " } }";
        note = "file-backed space for temporaries" +
               std::string(o.has_budget[t] ? "; --budget scratch=" + policy_size(o.budget[t]) : "; --scratch-path");
        break;
    }
    std::string line = "  " + std::string(kTierNames[t]) + ": " + def;
    if (line.size() < 58) line += std::string(58 - line.size(), ' ');
    y += line + "  # " + note + "\n";
  }
  (void)p;
  (void)plan;
  return y;
}

std::string fallback_yaml(const Written& w) {
  bool cap = std::find(w.tiers.begin(), w.tiers.end(), kCapacity) != w.tiers.end();
  return cap ? "fallback: [dram, capacity]    # a full or over-budget tier spills to DRAM, then to capacity memory\n"
             : "fallback: [dram]              # a full or over-budget tier spills to DRAM\n";
}

std::string rules_yaml(const Written& w, bool with_comments) {
  std::string y = "rules:                          # first match wins\n";
  bool any = false;
  for (const Rule& r : w.rules) {
    if (r.dropped) continue;
    any = true;
    if (with_comments)
      for (const auto& c : r.comment) y += "  # " + c + "\n";
    y += "  - name: " + r.name + "\n    match: { module: " + yaml_quote(r.module);
    if (!r.function.empty()) y += ", function: " + yaml_quote(r.function);
    y += ", size: " + yaml_quote(size_condition(r.lo, r.hi));
    if (r.mmap) y += ", api: [mmap]";
    y += " }\n    tier: " + std::string(kTierNames[r.tier]) + "\n";
  }
  if (!any) y = "rules: []                       # nothing in the profile is worth a rule\n";
  return y;
}

std::string policy_text(const Written& w, const Options& o, const Profile& p, const std::vector<Choice>& plan,
                        const std::string& header, const std::string& footer, bool with_comments) {
  std::string y = with_comments ? header : "";
  y += "version: 1\n";
  if (with_comments && !p.program.empty()) {
    std::string base = p.program.substr(p.program.find_last_of('/') + 1);
    y += "# programs: [" + yaml_quote(base) + "]     # uncomment to apply it to this program only\n";
  }
  y += tiers_yaml(o, w, p, plan) + "default: dram\n" + fallback_yaml(w) + rules_yaml(w, with_comments);
  if (with_comments) y += footer;
  return y;
}

/** Where each (site, bucket) goes under the compiled policy: the tier index in kTierNames,
 *  and the rule (-1: the default). */
struct Landing {
  int tier, rule;
};
std::vector<std::vector<Landing>> simulate(const std::string& text, const Profile& p, const Written& w) {
  policy::PolicySpec spec;
  std::vector<policy::Problem> problems;
  std::vector<std::string> notes;
  auto c = std::make_unique<CompiledPolicy>();
  bool ok = policy::parse_policy_text(text, "suggested", &spec, &problems);
  topo::Machine m = topo::load_sysfs();
  if (ok) ok = policy::compile_policy(spec, m, c.get(), &problems, &notes);
  if (!ok) fail("suggest: internal error: the policy written does not compile: " + (problems.empty() ? std::string("?") : problems[0].str()));
  std::vector<std::vector<Landing>> out(p.sites.size());
  for (size_t i = 0; i < p.sites.size(); ++i) {
    const PSite& s = p.sites[i];
    policy::SiteName site{};
    std::snprintf(site.module, sizeof site.module, "%s", s.module.c_str());
    std::snprintf(site.symbol, sizeof site.symbol, "%s", s.function.c_str());
    uint32_t api = api_bit(s.api);
    for (const Bucket& b : s.hist) {
      uint64_t size = std::max(b.lo, s.size_min);
      Landing l{kDram, -1};
      for (int r = 0; r < c->nrules; ++r) {
        const CompiledRule& cr = c->rules[r];
        if (cr.has_site() && !policy::rule_site_matches(cr, site, nullptr)) continue;
        if (size < cr.entry.size_lo || size > cr.entry.size_hi || !(cr.entry.apis & api)) continue;
        // The compiled rule's name leads back to ours.
        for (size_t k = 0; k < w.rules.size(); ++k)
          if (!w.rules[k].dropped && w.rules[k].name == cr.name) l = {w.rules[k].tier, static_cast<int>(k)};
        break;
      }
      out[i].push_back(l);
    }
  }
  return out;
}

/** The tier the plan means for one bucket of a site. */
int intended(const std::vector<Choice>& plan, const Options& o, size_t i, const Bucket& b) {
  const Choice& c = plan[i];
  if (!c.rule_all_sizes && b.hi < o.large) return kDram;
  return c.tier;
}

/** A bucket's part of its site's peak: its share of the site's bytes (count x mid-size). */
uint64_t bucket_peak(const PSite& s, const Bucket& b, const Profile& p) {
  auto bytes = [&](const Bucket& k) {
    double lo = static_cast<double>(std::max(k.lo, s.size_min)), hi = static_cast<double>(std::min(k.hi, std::max(s.size_max, k.lo)));
    return static_cast<double>(k.count) * (lo + std::max(lo, hi)) / 2;
  };
  double all = 0;
  for (const Bucket& k : s.hist) all += bytes(k);
  if (all <= 0) return 0;
  return static_cast<uint64_t>(static_cast<double>(at_peak(p, s)) * bytes(b) / all);
}

}  // namespace

int cmd_suggest(int argc, char** argv) {
  Options o;
  std::string path, out;
  o.command = "tiermalloc suggest";
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail("suggest: " + a + " needs a value");
      return argv[++i];
    };
    if (a == "--budget" || a.rfind("--budget=", 0) == 0) {
      std::string v = a == "--budget" ? value() : a.substr(9);
      size_t eq = v.find('=');
      if (eq == std::string::npos) fail("suggest: --budget expects TIER=SIZE (such as fast=16GiB), found '" + v + "'");
      std::string name = v.substr(0, eq), size = v.substr(eq + 1), err;
      int t = -1;
      for (int k = 0; k < kNumTiers; ++k)
        if (name == kTierNames[k]) t = k;
      if (t < 0) fail("suggest: unknown tier '" + name + "' in --budget (expected one of fast, dram, capacity, scratch)");
      uint64_t n;
      if (!policy::parse_size(size, &n, &err)) fail("suggest: --budget " + v + ": " + err);
      if (n == 0) fail("suggest: --budget " + v + ": a budget must be more than 0");
      if (o.has_budget[t]) fail("suggest: --budget for tier '" + name + "' given twice");
      o.budget[t] = n;
      o.has_budget[t] = true;
      o.command += " --budget " + v;
    } else if (a == "-o" || a == "--output") {
      out = value();
    } else if (a == "--scratch-path") {
      o.scratch_path = value();
      if (o.scratch_path.empty() || o.scratch_path[0] != '/') fail("suggest: --scratch-path expects an absolute directory, found '" + o.scratch_path + "'");
      o.command += " --scratch-path " + o.scratch_path;
    } else if (a == "--large") {
      std::string v = value(), err;
      if (!policy::parse_size(v, &o.large, &err) || o.large == 0) fail("suggest: --large " + v + ": " + (err.empty() ? "must be more than 0" : err));
      o.command += " --large " + v;
    } else if (a.size() > 1 && a[0] == '-') {
      fail("suggest: unknown option '" + a + "' (expected --budget TIER=SIZE, -o FILE, --scratch-path DIR or --large SIZE)");
    } else if (path.empty()) {
      path = a;
    } else {
      fail("suggest: one profile at a time");
    }
  }
  if (path.empty()) fail("suggest: no profile given (usage: tiermalloc suggest PROFILE [--budget TIER=SIZE]... [-o FILE])");
  Profile p = load(path);
  const double elapsed = static_cast<double>(std::max<uint64_t>(p.elapsed_ms, 1));
  // A site worth a fast rule: 1,000 allocations or more, and at least 0.1% of all of them.
  const uint64_t hot_floor = std::max<uint64_t>(1000, p.allocations / 1000);

  // 1. Large sites by lifetime.
  std::vector<Choice> plan(p.sites.size());
  // Sites left out of a tier, with the reason; where each ended up is said when written.
  std::vector<std::pair<size_t, std::string>> left_out, fast_cut;
  for (size_t i = 0; i < p.sites.size(); ++i) {
    const PSite& s = p.sites[i];
    plan[i].nameless = s.module.empty() || s.module[0] == '(';  // "(other)": no module a rule could name
    if (plan[i].nameless || !s.allocations || s.size_max < o.large) continue;
    double freed = static_cast<double>(s.frees) / static_cast<double>(s.allocations);
    bool short_lived = freed >= 0.9 && s.life_mean <= 0.05 * elapsed;
    bool long_lived = s.live_at_exit * 2 >= s.allocations || s.life_mean >= 0.25 * elapsed;
    char b[256];
    if (short_lived && s.api != "mmap") {
      plan[i].tier = kScratch;
      plan[i].rule_all_sizes = s.size_min >= o.large;
      std::snprintf(b, sizeof b, "%s allocations of %s, %.0f%% freed, mean lifetime %s of a %s run, peak %s live",
                    grouped(s.allocations).c_str(), sizes_text(s.size_min, s.size_max).c_str(), 100 * freed, ms(s.life_mean).c_str(),
                    ms(elapsed).c_str(), human_bytes(s.peak).c_str());
      plan[i].why = b;
    } else if (long_lived) {
      plan[i].tier = kCapacity;
      plan[i].rule_all_sizes = s.size_min >= o.large;
      std::string life = s.frees ? "mean lifetime " + ms(s.life_mean) + " of a " + ms(elapsed) + " run" : "none freed";
      std::snprintf(b, sizeof b, "%s allocations of %s, %s still live at exit, %s, peak %s live", grouped(s.allocations).c_str(),
                    sizes_text(s.size_min, s.size_max).c_str(), grouped(s.live_at_exit).c_str(), life.c_str(),
                    human_bytes(s.peak).c_str());
      plan[i].why = b;
    } else if (short_lived) {
      left_out.push_back({i, s.where() + ": short-lived large mappings (api mmap) cannot go to transient space"});
    }
  }
  // 2. Budgets of scratch and capacity: the busiest sites first, the rest stay on DRAM.
  for (int t : {kScratch, kCapacity}) {
    if (!o.has_budget[t]) continue;
    std::vector<size_t> idx;
    for (size_t i = 0; i < plan.size(); ++i)
      if (plan[i].tier == t) idx.push_back(i);
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return p.sites[a].bytes > p.sites[b].bytes; });
    uint64_t used = 0;
    for (size_t i : idx) {
      uint64_t need = at_peak(p, p.sites[i]);
      if (used + need <= o.budget[t]) {
        used += need;
        continue;
      }
      plan[i].tier = kDram;
      left_out.push_back({i, p.sites[i].where() + ": peak " + human_bytes(need) + " does not fit the " + kTierNames[t] +
                                 " budget (" + human_bytes(used) + " of " + human_bytes(o.budget[t]) + " already taken)"});
    }
  }
  // 3. The hottest small working set, greedily by allocations per byte of peak, within the
  //    fast budget.
  uint64_t fast_used = 0;
  if (o.has_budget[kFast]) {
    std::vector<size_t> idx;
    for (size_t i = 0; i < plan.size(); ++i) {
      const PSite& s = p.sites[i];
      if (plan[i].tier == kDram && !plan[i].nameless && s.allocations >= hot_floor && s.peak > 0 && s.api != "mmap") idx.push_back(i);
    }
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return heat(p.sites[a]) > heat(p.sites[b]); });
    for (size_t i : idx) {
      const PSite& s = p.sites[i];
      uint64_t need = at_peak(p, s);
      char b[256];
      std::snprintf(b, sizeof b, "%s allocations of %s, peak %s live: %s allocations per KiB of peak", grouped(s.allocations).c_str(),
                    sizes_text(s.size_min, s.size_max).c_str(), human_bytes(s.peak).c_str(),
                    grouped(static_cast<uint64_t>(std::llround(heat(s) * 1024))).c_str());
      if (fast_used + need <= o.budget[kFast]) {
        fast_used += need;
        plan[i].tier = kFast;
        plan[i].why = b;
      } else {
        fast_cut.push_back({i, s.where() + ": " + b});
      }
    }
  }
  // 4. A DRAM budget: what stays on DRAM at the process peak must fit; the coldest large
  //    remaining sites move to capacity memory.
  std::vector<std::string> dram_notes;
  if (o.has_budget[kDram]) {
    uint64_t moved = 0;
    for (size_t i = 0; i < plan.size(); ++i)
      if (plan[i].tier != kDram) moved += at_peak(p, p.sites[i]);
    uint64_t need = p.bytes_peak > moved ? p.bytes_peak - moved : 0;
    std::vector<size_t> idx;
    for (size_t i = 0; i < plan.size(); ++i)
      if (plan[i].tier == kDram && !plan[i].nameless && p.sites[i].peak >= o.large) idx.push_back(i);
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return heat(p.sites[a]) < heat(p.sites[b]); });
    uint64_t cap_used = 0;
    for (size_t i = 0; i < plan.size(); ++i)
      if (plan[i].tier == kCapacity) cap_used += at_peak(p, p.sites[i]);
    for (size_t i : idx) {
      if (need <= o.budget[kDram]) break;
      const PSite& s = p.sites[i];
      uint64_t give = at_peak(p, s);
      if (o.has_budget[kCapacity] && cap_used + give > o.budget[kCapacity]) continue;  // capacity is full too
      cap_used += give;
      plan[i].tier = kCapacity;
      plan[i].rule_all_sizes = true;
      plan[i].why = grouped(s.allocations) + " allocations of " + sizes_text(s.size_min, s.size_max) + ", peak " +
                    human_bytes(s.peak) + " live, " + grouped(static_cast<uint64_t>(std::llround(heat(s) * 1024))) +
                    " allocations per KiB of peak: among the coldest sites with " + human_bytes(o.large) +
                    " or more live, moved off DRAM to meet its budget";
      need = need > give ? need - give : 0;
    }
    dram_notes.push_back("DRAM at the process peak: about " + human_bytes(need) + " of its " + human_bytes(o.budget[kDram]) +
                         " budget after the moves above" +
                         (need > o.budget[kDram] ? " -- still over: the limit sends the rest down the fallback chain" : ""));
  }

  // 5. Rules, one per (tier, module, function), with the sizes the histogram saw.
  Written w;
  bool used_tier[kNumTiers] = {};
  used_tier[kDram] = true;
  for (int t = 0; t < kNumTiers; ++t) used_tier[t] = used_tier[t] || o.has_budget[t];
  for (const Choice& c : plan) used_tier[c.tier] = true;
  if (o.has_budget[kDram]) used_tier[kCapacity] = true;  // DRAM's overflow needs somewhere to go
  for (int t = 0; t < kNumTiers; ++t)
    if (used_tier[t]) w.tiers.push_back(t);
  std::set<std::string> names;
  // Named functions first (narrow), then module-and-size rules, so that the wide ones see
  // only what the narrow ones leave; within each, scratch, capacity, then fast.
  for (int pass = 0; pass < 2; ++pass)
    for (int t : {kScratch, kCapacity, kFast}) {
      std::vector<size_t> idx;
      for (size_t i = 0; i < plan.size(); ++i)
        if (plan[i].tier == t && (p.sites[i].function.empty() == (pass == 1))) idx.push_back(i);
      if (t == kFast)
        std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return heat(p.sites[a]) > heat(p.sites[b]); });
      for (size_t i : idx) {
        const PSite& s = p.sites[i];
        uint64_t lo = UINT64_MAX, hi = 0;
        for (const Bucket& b : s.hist) {
          if (!plan[i].rule_all_sizes && b.hi < o.large) continue;
          lo = std::min(lo, b.lo);
          hi = std::max(hi, b.hi);
        }
        if (lo > hi) continue;
        // Power-of-two buckets [2^k, 2^(k+1)-1]: written as 2^k..2^(k+1), readable, and one
        // size wider than seen.
        if (hi < UINT64_MAX && ((hi + 1) & hi) == 0) hi += 1;
        bool widened_m = false, widened_f = false;
        std::string mod = literal_glob(s.module, &widened_m);
        std::string fn = s.function.empty() ? "" : literal_glob(s.function, &widened_f);
        // The same function and module for the same tier: one rule, sizes joined.
        Rule* same = nullptr;
        for (Rule& r : w.rules)
          if (r.tier == t && r.module == mod && r.function == fn && r.mmap == (s.api == "mmap")) same = &r;
        if (same) {
          same->lo = std::min(same->lo, lo);
          same->hi = std::max(same->hi, hi);
          same->sites.push_back(i);
          same->comment.push_back("and " + s.where() + ": " + plan[i].why);
          continue;
        }
        Rule r{rule_name(t, s, &names), t, mod, fn, lo, hi, s.api == "mmap", {i}, {}, false};
        r.comment.push_back(s.where() + ":");
        r.comment.push_back("  " + plan[i].why);
        if (s.function.empty()) r.comment.push_back("  its function is unknown: the rule names the module and the sizes only");
        if (widened_m || widened_f) r.comment.push_back("  a name longer than a pattern may be: matched by its prefix");
        if (!plan[i].rule_all_sizes)
          r.comment.push_back("  only its allocations of " + human_bytes(o.large) + " or more (it also makes smaller ones)");
        w.rules.push_back(std::move(r));
      }
    }
  if (w.rules.size() > static_cast<size_t>(kMaxRules)) {
    for (size_t k = kMaxRules; k < w.rules.size(); ++k) {
      w.rules[k].dropped = true;
      for (size_t i : w.rules[k].sites) plan[i].tier = kDram;
      left_out.push_back({w.rules[k].sites[0], p.sites[w.rules[k].sites[0]].where() + ": more rules than a policy may have (" +
                                                   std::to_string(kMaxRules) + ")"});
    }
  }

  // 6. Check every rule against the whole profile with the library's matcher: what does it
  //    take that it was not written for?  More than its own sites' peak: dropped.
  std::vector<std::vector<Landing>> land;
  for (int round = 0; round < 8; ++round) {
    land = simulate(policy_text(w, o, p, plan, "", "", false), p, w);
    bool changed = false;
    for (size_t k = 0; k < w.rules.size(); ++k) {
      Rule& r = w.rules[k];
      if (r.dropped) continue;
      uint64_t meant = 0, extra = 0;
      for (size_t i = 0; i < p.sites.size(); ++i)
        for (size_t b = 0; b < p.sites[i].hist.size(); ++b) {
          if (land[i][b].rule != static_cast<int>(k)) continue;
          uint64_t pk = bucket_peak(p.sites[i], p.sites[i].hist[b], p);
          if (intended(plan, o, i, p.sites[i].hist[b]) == r.tier) meant += pk;
          else extra += pk;
        }
      if (extra > meant) {
        r.dropped = true;
        changed = true;
        for (size_t i : r.sites) plan[i].tier = kDram;
        left_out.push_back({r.sites[0], p.sites[r.sites[0]].where() + ": a rule for it (" + (r.function.empty() ? "module and size" : "module, function and size") +
                           ") would also take " + human_bytes(extra) + " of peak from other sites, more than its own " +
                           human_bytes(meant) + "; not written"});
      }
    }
    if (!changed) break;
  }
  for (size_t k = 0; k < w.rules.size(); ++k) {
    Rule& r = w.rules[k];
    if (r.dropped) continue;
    for (size_t i = 0; i < p.sites.size(); ++i) {
      uint64_t n = 0, pk = 0, lo = UINT64_MAX, hi = 0;
      for (size_t b = 0; b < p.sites[i].hist.size(); ++b) {
        const Bucket& bk = p.sites[i].hist[b];
        if (land[i][b].rule != static_cast<int>(k) || intended(plan, o, i, bk) == r.tier) continue;
        n += bk.count;
        pk += bucket_peak(p.sites[i], bk, p);
        lo = std::min(lo, std::max(bk.lo, p.sites[i].size_min));
        hi = std::max(hi, std::min(bk.hi, p.sites[i].size_max));
      }
      if (n)
        r.comment.push_back("  note: it also takes " + p.sites[i].where() + " (" + grouped(n) + " allocations of " +
                            sizes_text(lo, hi) + ", about " + human_bytes(pk) + " of peak), unavoidable with " +
                            (r.function.empty() ? "a module-and-size rule" : "these patterns"));
    }
  }

  // 7. The text.
  uint64_t tier_peak[kNumTiers] = {};
  size_t tier_sites[kNumTiers] = {};
  for (size_t i = 0; i < p.sites.size(); ++i)
    for (size_t b = 0; b < p.sites[i].hist.size(); ++b) tier_peak[land[i][b].tier] += bucket_peak(p.sites[i], p.sites[i].hist[b], p);
  for (size_t i = 0; i < p.sites.size(); ++i) {
    bool seen[kNumTiers] = {};
    for (const Landing& l : land[i]) seen[l.tier] = true;
    for (int t = 0; t < kNumTiers; ++t) tier_sites[t] += seen[t];
  }
  std::string h;
  h += "# A candidate tiermalloc policy, written by: " + o.command + " " + path + "\n";
  h += "# from a profile of " + (p.program.empty() ? std::string("?") : p.program) + " (pid " + std::to_string(p.pid) + "): " +
       ms(elapsed) + ", " + grouped(p.allocations) + " allocations at " + std::to_string(p.sites.size()) + " call sites, peak " +
       human_bytes(p.bytes_peak) + " live.\n";
  h += "# How sites were chosen (figures from the profile; \"large\" = " + human_bytes(o.large) + " or more):\n";
  h += "#   scratch   large and short-lived: 90% or more freed, mean lifetime at most 5% of the run\n";
  h += "#   capacity  large and long-lived: half or more live at exit, or mean lifetime 25% of the run or more\n";
  h += "#   fast      the hottest small working set: most allocations per byte of peak live (sites with\n";
  h += "#             1,000 allocations and 0.1% of all or more), peaks summed (an upper bound) within the budget\n";
  h += "#   dram      everything else: the default\n";
  h += "# Where the profile's peak live bytes would go (per-site peaks summed):";
  for (int t : w.tiers) h += std::string(" ") + kTierNames[t] + " " + human_bytes(tier_peak[t]) + " (" + std::to_string(tier_sites[t]) + (tier_sites[t] == 1 ? " site)" : " sites)") + (t == w.tiers.back() ? "" : ",");
  h += "\n";
  if (!o.has_budget[kFast]) h += "# No fast tier: give --budget fast=SIZE to place the hottest working set on high-bandwidth memory.\n";
  else h += "# fast budget " + human_bytes(o.budget[kFast]) + ": " + human_bytes(fast_used) + " of it taken.\n";
  for (const auto& n : dram_notes) h += "# " + n + "\n";
  h += "# Review it, then: tiermalloc check FILE; tiermalloc run -p FILE --stats S.json -- PROGRAM; tiermalloc report S.json\n";
  auto where_now = [&](size_t i) -> std::string {
    if (plan[i].tier == kCapacity) return "; moved to capacity memory instead, for the DRAM budget";
    return "; left on DRAM";
  };
  std::string f;
  if (!fast_cut.empty()) {
    f += "# The fast budget (" + human_bytes(o.budget[kFast]) + ") is full: " + std::to_string(fast_cut.size()) +
         " hot site(s) cut:\n";
    for (const auto& c : fast_cut) f += "#   " + c.second + where_now(c.first) + "\n";
  }
  if (!left_out.empty()) {
    f += "# Also left out:\n";
    for (const auto& c : left_out) f += "#   " + c.second + where_now(c.first) + "\n";
  }
  std::string text = policy_text(w, o, p, plan, h, f, true);
  for (char& c : text)
    if (static_cast<unsigned char>(c) < 0x20 && c != '\n') c = '?';  // names with control characters
  // What we write must be what we checked.
  simulate(text, p, w);
  if (out.empty()) {
    std::fputs(text.c_str(), stdout);
  } else {
    std::ofstream fo(out, std::ios::binary | std::ios::trunc);
    if (!fo || !(fo << text) || !fo.flush()) fail("suggest: cannot write '" + out + "': " + std::strerror(errno));
    size_t nr = 0;
    for (const Rule& r : w.rules) nr += !r.dropped;
    std::printf("wrote %s: %zu tiers, %zu rules", out.c_str(), w.tiers.size(), nr);
    for (int t : w.tiers) std::printf(", %s %s", kTierNames[t], human_bytes(tier_peak[t]).c_str());
    std::printf(" (peak live, per-site peaks summed)\n");
  }
  return 0;
}

}  // namespace tiermalloc::cli
