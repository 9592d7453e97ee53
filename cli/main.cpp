// SPDX-License-Identifier: MIT
// cli/main.cpp -- the `tiermalloc` command: run, check, topology.
//
// Tool errors print one line "tiermalloc: ..." and exit 2; `run` exits with the program's
// status; `check` exits 1 when the policy has problems.
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <memory>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "policy/compile.hpp"
#include "policy/env_overrides.hpp"
#include "policy/match.hpp"
#include "policy/model.hpp"
#include "topology/hwloc_provider.hpp"
#include "topology/topology.hpp"

using namespace tiermalloc;

int cmd_record(int argc, char** argv);  // cli/record.cpp
namespace tiermalloc::cli {
int cmd_report(int argc, char** argv);   // cli/report.cpp
int cmd_suggest(int argc, char** argv);  // cli/suggest.cpp
}

namespace {

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "tiermalloc: %s\n", msg.c_str());
  std::exit(2);
}

void usage(FILE* f) {
  std::fprintf(f,
               "usage:\n"
               "  tiermalloc run [-p POLICY] [-e NAME=VALUE]... [--stats FILE] -- PROGRAM [ARGS...]\n"
               "  tiermalloc check POLICY [--json]\n"
               "  tiermalloc explain POLICY --function SYMBOL [--module M] --size N [--api API] [--stack CALLER,...]\n"
               "  tiermalloc topology [--json] [--xml FILE] [--cpus LIST]\n"
               "  tiermalloc record [-o PROFILE] [-p POLICY] -- PROGRAM [ARGS...]\n"
               "  tiermalloc report STATS [--html FILE] [--top N]\n"
               "  tiermalloc suggest PROFILE [--budget TIER=SIZE]... [-o FILE] [--scratch-path DIR] [--large SIZE]\n");
}

std::string self_dir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  return p.substr(0, p.find_last_of('/'));
}

bool is_file(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string find_library() {
  if (const char* env = std::getenv("TIERMALLOC_LIBRARY")) return env;
  std::string d = self_dir();
  for (const char* rel : {"/libtiermalloc.so", "/../lib/libtiermalloc.so", "/../lib/x86_64-linux-gnu/libtiermalloc.so",
                          "/../lib64/libtiermalloc.so"}) {
    std::string p = d + rel;
    if (is_file(p)) {
      char real[PATH_MAX];
      return realpath(p.c_str(), real) ? real : p;
    }
  }
  die("cannot find libtiermalloc.so next to " + d + " or in ../lib (set TIERMALLOC_LIBRARY)");
}

std::string absolute(const std::string& p) {
  char real[PATH_MAX];
  if (realpath(p.c_str(), real)) return real;
  return p;
}

std::string json_str(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
      continue;
    }
    o += c;
  }
  return o + "\"";
}

int cmd_run(int argc, char** argv) {
  std::string policy, stats;
  std::vector<std::string> env;
  int i = 0;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") { ++i; break; }
    if ((a == "-p" || a == "--policy") && i + 1 < argc) policy = argv[++i];
    else if ((a == "-e" || a == "--env") && i + 1 < argc) {
      std::string kv = argv[++i];
      if (kv.find('=') == std::string::npos) die("-e expects NAME=VALUE, found '" + kv + "'");
      env.push_back(kv);
    } else if (a == "--stats" && i + 1 < argc) stats = argv[++i];
    else if (a[0] == '-') die("run: unknown option '" + a + "' (expected -p POLICY, -e NAME=VALUE, --stats FILE, then -- PROGRAM)");
    else break;
  }
  if (i >= argc) die("run: no program given (usage: tiermalloc run [-p POLICY] -- PROGRAM [ARGS...])");
  std::string lib = find_library();
  if (!policy.empty()) {
    if (!is_file(policy)) die("run: cannot open policy '" + policy + "'");
    setenv("TIERMALLOC_POLICY", absolute(policy).c_str(), 1);
  }
  if (!stats.empty()) setenv("TIERMALLOC_STATS", stats.c_str(), 1);
  for (const auto& kv : env) {
    auto eq = kv.find('=');
    setenv(kv.substr(0, eq).c_str(), kv.substr(eq + 1).c_str(), 1);
  }
  std::string preload = lib;
  if (const char* old = std::getenv("LD_PRELOAD"); old && *old) preload += std::string(":") + old;
  setenv("LD_PRELOAD", preload.c_str(), 1);
  execvp(argv[i], argv + i);
  die(std::string("run: cannot execute '") + argv[i] + "': " + std::strerror(errno));
}

int cmd_check(int argc, char** argv) {
  std::string path;
  bool json = false;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json") json = true;
    else if (a[0] == '-') die("check: unknown option '" + a + "'");
    else if (path.empty()) path = a;
    else die("check: one policy at a time");
  }
  if (path.empty()) die("check: no policy given (usage: tiermalloc check POLICY [--json])");
  policy::PolicySpec spec;
  std::vector<policy::Problem> problems;
  std::vector<std::string> notes;
  CompiledPolicy* c = new CompiledPolicy;
  bool ok = policy::parse_policy_file(path, &spec, &problems);
  // The variables a preloaded program would see apply here too, so check shows its policy.
  if (ok) ok = policy::apply_overrides(policy::overrides_from_environ(environ), &spec, &problems);
  topo::Machine m = topo::load_sysfs();
  if (ok) ok = policy::compile_policy(spec, m, c, &problems, &notes);
  if (json) {
    std::printf("{\"policy\": %s, \"ok\": %s, \"problems\": [", json_str(path).c_str(), ok ? "true" : "false");
    for (size_t k = 0; k < problems.size(); ++k)
      std::printf("%s{\"line\": %d, \"column\": %d, \"message\": %s}", k ? ", " : "", problems[k].loc.line,
                  problems[k].loc.col, json_str(problems[k].message).c_str());
    std::printf("], \"tiers\": [");
    for (int t = 0; ok && t < c->ntiers; ++t) {
      const CompiledTier& ct = c->tiers[t];
      std::printf("%s{\"name\": %s, \"nodes\": [%s], \"mode\": \"%s\", \"available\": %s, \"why\": %s}", t ? ", " : "",
                  json_str(ct.name).c_str(), ct.nodes.empty() ? "" : policy::describe_nodes(ct.nodes).c_str(),
                  policy::mode_name(ct.mode), ct.available ? "true" : "false", json_str(ct.why).c_str());
    }
    std::printf("]}\n");
    return ok ? 0 : 1;
  }
  for (const auto& p : problems) std::fprintf(stderr, "tiermalloc: %s\n", p.str().c_str());
  if (!ok) return 1;
  for (const auto& n : notes) std::fprintf(stderr, "tiermalloc: %s\n", n.c_str());
  std::printf("%s: ok, %d tiers, %d rules\n", path.c_str(), c->ntiers - 1, c->nrules);
  for (int t = 1; t < c->ntiers; ++t) {
    const CompiledTier& ct = c->tiers[t];
    std::printf("  tier %-12s %s\n", ct.name,
                ct.available ? ("nodes " + policy::describe_nodes(ct.nodes) + " (" + policy::mode_name(ct.mode) + ")  " + ct.why).c_str()
                             : ("unavailable here: " + std::string(ct.why)).c_str());
  }
  const char* def = c->tiers[c->plan.default_tier].name;
  for (int r = 0; r < c->nrules; ++r)
    std::printf("  rule %-12s -> %s\n", c->rules[r].name, c->tiers[c->rules[r].tier].name);
  std::printf("  default      -> %s\n", def);
  delete c;
  return 0;
}

std::string size_text(uint64_t v) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (u < 4 && v >= 1024 && v % 1024 == 0) {
    v /= 1024;
    ++u;
  }
  return std::to_string(v) + units[u];
}

std::string range_text(const PlanEntry& e) {
  if (e.size_lo == 0 && e.size_hi == UINT64_MAX) return "any size";
  if (e.size_hi == UINT64_MAX) return ">= " + size_text(e.size_lo);
  if (e.size_lo == 0) return "<= " + size_text(e.size_hi);
  if (e.size_lo == e.size_hi) return "== " + size_text(e.size_lo);
  return size_text(e.size_lo) + ".." + size_text(e.size_hi);
}

int cmd_explain(int argc, char** argv) {
  std::string path, function, module, api_name = "malloc";
  std::vector<std::string> stack;  // --stack: the callers' symbols, innermost first
  uint64_t size = 0;
  bool have_size = false;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die("explain: " + a + " needs a value");
      return argv[++i];
    };
    if (a == "--function") function = value();
    else if (a == "--module") module = value();
    else if (a == "--api") api_name = value();
    else if (a == "--stack") {
      std::string v = value();
      for (size_t p = 0; p <= v.size();) {
        size_t e = v.find(',', p);
        if (e == std::string::npos) e = v.size();
        if (e > p) stack.push_back(v.substr(p, e - p));
        p = e + 1;
      }
    }
    else if (a == "--size") {
      std::string v = value(), err;
      if (!policy::parse_size(v, &size, &err)) die("explain: --size: " + err);
      have_size = true;
    } else if (a[0] == '-') die("explain: unknown option '" + a + "'");
    else if (path.empty()) path = a;
    else die("explain: one policy at a time");
  }
  if (path.empty() || function.empty() || !have_size)
    die("explain: usage: tiermalloc explain POLICY --function SYMBOL [--module M] --size N [--api API]");
  uint32_t api = policy::parse_api(api_name);
  if (!api) die("explain: unknown api '" + api_name + "' (expected one of " + policy::kApiNames + ")");
  policy::PolicySpec spec;
  std::vector<policy::Problem> problems;
  std::vector<std::string> notes;
  auto c = std::make_unique<CompiledPolicy>();
  bool ok = policy::parse_policy_file(path, &spec, &problems);
  if (ok) ok = policy::apply_overrides(policy::overrides_from_environ(environ), &spec, &problems);
  topo::Machine m = topo::load_sysfs();
  if (ok) ok = policy::compile_policy(spec, m, c.get(), &problems, &notes);
  for (const auto& p : problems) std::fprintf(stderr, "tiermalloc: %s\n", p.str().c_str());
  if (!ok) return 1;
  policy::SiteName site{};
  std::snprintf(site.module, sizeof site.module, "%s", module.c_str());
  std::snprintf(site.symbol, sizeof site.symbol, "%s", function.c_str());
  std::printf("%s: function '%s'%s%s, size %s, api %s\n", path.c_str(), function.c_str(), module.empty() ? "" : " in ",
              module.c_str(), size_text(size).c_str(), api_name.c_str());
  int chosen = -1;
  for (int i = 0; i < c->nrules; ++i) {
    const CompiledRule& r = c->rules[i];
    std::string why;
    bool stack_ok = r.nstack == 0;
    if (r.nstack) {
      // Frames within stack_depth: the site itself, then its callers.
      std::vector<std::string> frames = {function};
      frames.insert(frames.end(), stack.begin(), stack.end());
      for (size_t f = 0; f < frames.size() && static_cast<int>(f) < c->stack_depth && !stack_ok; ++f)
        for (int k = 0; k < r.nstack && !stack_ok; ++k) stack_ok = fnmatch(r.stack[k], frames[f].c_str(), 0) == 0;
    }
    if (r.has_site() && !policy::rule_site_matches(r, site, function.c_str())) {
      std::string pats;
      for (int k = 0; k < r.nmodule; ++k) pats += std::string(pats.empty() ? "" : " ") + "module " + r.module[k];
      for (int k = 0; k < r.nfunction; ++k) pats += std::string(pats.empty() ? "" : " ") + "function " + r.function[k];
      why = "no: the site does not match (" + pats + ")";
    } else if (!stack_ok) {
      std::string pats;
      for (int k = 0; k < r.nstack; ++k) pats += std::string(pats.empty() ? "" : " ") + r.stack[k];
      why = "no: no frame within stack_depth " + std::to_string(c->stack_depth) + " matches stack " + pats +
            (stack.empty() ? " (give the callers with --stack)" : "");
    } else if (size < r.entry.size_lo || size > r.entry.size_hi) {
      why = "no: size " + size_text(size) + " is not " + range_text(r.entry);
    } else if (!(r.entry.apis & api)) {
      why = "no: api " + api_name + " is not among the rule's";
    } else {
      why = "yes";
    }
    bool first = why == "yes" && chosen < 0;
    if (first) chosen = i;
    std::printf("  rule %d %-20s %s%s\n", i + 1, ("'" + std::string(r.name) + "'").c_str(), why.c_str(),
                first ? std::string(" -> tier " + std::string(c->tiers[r.tier].name)).c_str()
                      : (why == "yes" ? " (an earlier rule matched first)" : ""));
  }
  int tier = chosen >= 0 ? c->rules[chosen].entry.tier : c->plan.default_tier;
  const CompiledTier& t = c->tiers[tier];
  std::printf("=> tier %s (%s): %s\n", t.name, chosen >= 0 ? ("rule '" + std::string(c->rules[chosen].name) + "'").c_str() : "default",
              tier == 0 ? "plain allocation" : ("nodes " + policy::describe_nodes(t.nodes) + ", " + policy::mode_name(t.mode)).c_str());
  if (chosen >= 0 && c->rules[chosen].tier != tier)
    std::printf("   (the rule names tier %s, which is unavailable here: %s)\n", c->tiers[c->rules[chosen].tier].name,
                c->tiers[c->rules[chosen].tier].why);
  return 0;
}

int cmd_topology(int argc, char** argv) {
  bool json = false;
  std::string xml, cpus;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json") json = true;
    else if (a == "--xml" && i + 1 < argc) xml = argv[++i];
    else if (a == "--cpus" && i + 1 < argc) cpus = argv[++i];
    else die("topology: unknown option '" + a + "' (expected --json, --xml FILE or --cpus LIST)");
  }
  topo::Machine m;
  std::string err;
  if (!topo::load_hwloc(&m, xml, &err, cpus)) {
    if (!xml.empty() || !cpus.empty()) die("topology: " + err);
    m = topo::load_sysfs();  // hwloc failed on this host: the kernel's view still works
  }
  double thr = 0;
  if (const char* t = std::getenv("TIERMALLOC_HBW_THRESHOLD")) thr = std::strtod(t, nullptr);
  const topo::Selector sels[] = {topo::Selector::kHighestBandwidth, topo::Selector::kLowestLatency,
                                 topo::Selector::kHighestCapacity, topo::Selector::kHbw};
  const char* kinds[] = {"dram", "hbm", "cxl", "pmem"};
  if (json) {
    std::printf("{\"provider\": \"%s\", \"initiators\": [", m.provider.c_str());
    for (size_t k = 0; k < m.initiators.size(); ++k) std::printf("%s%d", k ? ", " : "", m.initiators[k]);
    std::printf("], \"nodes\": [");
    for (size_t k = 0; k < m.nodes.size(); ++k) {
      const auto& n = m.nodes[k];
      std::printf("%s{\"id\": %d, \"cpus\": %s, \"capacity\": %llu, \"free\": %llu, \"read_bandwidth\": %.0f, "
                  "\"write_bandwidth\": %.0f, \"read_latency\": %.0f, \"write_latency\": %.0f, \"distance\": %d, "
                  "\"kind\": %s, \"kind_source\": %s, \"figures_source\": %s, \"capacity_source\": %s}",
                  k ? ", " : "", n.id, json_str(n.has_cpus ? n.cpus : "").c_str(), static_cast<unsigned long long>(n.capacity),
                  static_cast<unsigned long long>(n.free), n.read_bw, n.write_bw, n.read_lat, n.write_lat, n.distance,
                  json_str(n.kind).c_str(), json_str(n.kind_source).c_str(), json_str(n.source).c_str(),
                  json_str(m.provider == "sysfs" ? "sysfs" : "hwloc").c_str());
    }
    std::printf("], \"selectors\": {");
    for (size_t k = 0; k < 4; ++k) {
      auto s = topo::select_nodes(m, sels[k], thr);
      std::printf("%s\"%s\": {\"nodes\": [", k ? ", " : "", topo::selector_name(sels[k]));
      for (size_t j = 0; j < s.nodes.size(); ++j) std::printf("%s%d", j ? ", " : "", s.nodes[j]);
      std::printf("], \"why\": %s}", json_str(s.why).c_str());
    }
    for (const char* kind : kinds) {
      auto s = topo::select_kind(m, kind);
      std::printf(", \"kind: %s\": {\"nodes\": [", kind);
      for (size_t j = 0; j < s.nodes.size(); ++j) std::printf("%s%d", j ? ", " : "", s.nodes[j]);
      std::printf("], \"why\": %s}", json_str(s.why).c_str());
    }
    std::printf("}}\n");
    return 0;
  }
  std::printf("%-4s %-5s %-6s %9s %9s %10s %10s %8s %8s %4s  %s\n", "node", "kind", "cpus", "capacity", "free",
              "read MB/s", "write MB/s", "read ns", "write ns", "dist", "figures from; kind from");
  for (const auto& n : m.nodes) {
    char fr[16] = "-";
    if (n.free) std::snprintf(fr, sizeof fr, "%.2fGi", n.free / 1073741824.0);
    std::printf("%-4d %-5s %-6s %7.2fGi %9s %10.0f %10.0f %8.0f %8.0f %4d  %s; %s\n", n.id, n.kind.c_str(),
                n.has_cpus ? n.cpus.c_str() : "-", n.capacity / 1073741824.0, fr, n.read_bw, n.write_bw, n.read_lat,
                n.write_lat, n.distance, n.source.c_str(), n.kind_source.c_str());
  }
  std::printf("\nseen from CPUs of node(s)");
  for (int i : m.initiators) std::printf(" %d", i);
  std::printf(" (%s)\n", m.provider.c_str());
  for (const char* kind : kinds) {
    auto s = topo::select_kind(m, kind);
    std::string nodes;
    for (int id : s.nodes) nodes += (nodes.empty() ? "" : ",") + std::to_string(id);
    std::printf("kind: %-12s -> node %-6s %s\n", kind, nodes.empty() ? "-" : nodes.c_str(), s.why.c_str());
  }
  for (auto sel : sels) {
    auto s = topo::select_nodes(m, sel, thr);
    std::string nodes;
    for (int id : s.nodes) nodes += (nodes.empty() ? "" : ",") + std::to_string(id);
    std::printf("%-18s -> node %-6s %s\n", topo::selector_name(sel), nodes.empty() ? "-" : nodes.c_str(), s.why.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  std::string cmd = argv[1];
  try {
    if (cmd == "run") return cmd_run(argc - 2, argv + 2);
    if (cmd == "check") return cmd_check(argc - 2, argv + 2);
    if (cmd == "topology") return cmd_topology(argc - 2, argv + 2);
    if (cmd == "explain") return cmd_explain(argc - 2, argv + 2);
    if (cmd == "report") return cli::cmd_report(argc - 2, argv + 2);
    if (cmd == "suggest") return cli::cmd_suggest(argc - 2, argv + 2);
    if (cmd == "-h" || cmd == "--help" || cmd == "help") {
      usage(stdout);
      return 0;
    }
    if (cmd == "record") return cmd_record(argc - 2, argv + 2);
  } catch (const std::exception& e) {
    die(e.what());
  }
  usage(stderr);
  die("unknown command '" + cmd + "' (expected run, check, explain, topology, record, report or suggest)");
}
