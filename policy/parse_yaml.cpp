// SPDX-License-Identifier: MIT
// policy/parse_yaml.cpp -- the only file that includes yaml-cpp.
//
// Walks the YAML document against the schema of SPEC.md (version 1).  Every problem is
// collected with its line and column (yaml-cpp marks are 0-based; ours are 1-based), unknown
// keys are errors, and no exception leaves this file.
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "policy/model.hpp"

namespace tiermalloc::policy {
namespace {

constexpr size_t kMaxPolicyBytes = 1 << 20;  // a policy is a few KiB; refuse anything huge
// yaml-cpp builds nodes recursively (its own guard stops at ~2000 levels with "bad file"):
// a policy's schema is 6 levels deep, and the library may parse on a thread with a small
// stack, so anything deeper than this is refused before yaml-cpp sees it.
constexpr int kMaxNesting = 64;

// A cheap, conservative bound on the nesting of a YAML text: open flow collections ([ {),
// plus block levels (a stack of indentation columns, and each compact "- " on a line), outside
// quotes and comments.  Returns false at the first place deeper than kMaxNesting.
bool nesting_ok(const std::string& text, Loc* where) {
  std::vector<size_t> indents;
  int flow = 0;
  size_t line = 1, i = 0, n = text.size();
  while (i < n) {
    size_t col = 0;
    while (i < n && text[i] == ' ') ++i, ++col;
    if (i < n && text[i] != '\n' && text[i] != '#' && flow == 0) {
      while (!indents.empty() && indents.back() > col) indents.pop_back();
      if (indents.empty() || indents.back() < col) indents.push_back(col);
    }
    int dashes = 0;
    char quote = 0;
    for (; i < n && text[i] != '\n'; ++i, ++col) {
      char c = text[i];
      if (quote) {
        if (c == quote) quote = 0;
        continue;
      }
      if (c == '#' && (col == 0 || text[i - 1] == ' ' || text[i - 1] == '\t')) {
        while (i < n && text[i] != '\n') ++i;
        break;
      }
      if (c == '"' || c == '\'') quote = c;
      else if (c == '[' || c == '{') ++flow;
      else if ((c == ']' || c == '}') && flow > 0) --flow;
      else if (c == '-' && flow == 0 && (i + 1 >= n || text[i + 1] == ' ') &&
               (col == 0 || text[i - 1] == ' '))
        ++dashes;
      if (flow + dashes + static_cast<int>(indents.size()) > kMaxNesting) {
        *where = Loc{static_cast<int>(line), static_cast<int>(col + 1)};
        return false;
      }
    }
    ++i;  // the newline
    ++line;
  }
  return true;
}

class Parser {
 public:
  Parser(const std::string& file, PolicySpec* out, std::vector<Problem>* problems)
      : file_(file), out_(out), problems_(problems) {}

  void document(const YAML::Node& root) {
    if (!root.IsMap()) {
      error(root, "expected a mapping with 'version', 'tiers', 'default' and 'rules' at the top level");
      return;
    }
    check_keys(root, {"version", "programs", "tiers", "default", "fallback", "on_exhausted", "wrappers",
                      "stack_depth", "rules"},
               "top level");
    if (root["version"]) {
      int v = 0;
      if (!as_int(root["version"], &v) || v != 1) error(root["version"], "unsupported version (expected 1)");
    }
    if (auto n = root["programs"]) out_->programs = string_list(n, "programs");
    if (auto n = root["tiers"]) tiers(n);
    else error(root, "missing 'tiers' (expected at least one tier)");
    if (auto n = root["default"]) {
      out_->default_tier = scalar(n, "default");
      out_->default_loc = loc(n);
    }
    if (auto n = root["fallback"]) {
      out_->fallback = string_list(n, "fallback");
      out_->fallback_loc = loc(n);
    }
    if (auto n = root["on_exhausted"]) {
      std::string v = scalar(n, "on_exhausted");
      if (v == "fallback") out_->on_exhausted = OnExhausted::kFallback;
      else if (v == "fail") out_->on_exhausted = OnExhausted::kFail;
      else if (v == "abort") out_->on_exhausted = OnExhausted::kAbort;
      else if (!v.empty()) error(n, "unknown on_exhausted '" + v + "' (expected one of fallback, fail, abort)");
    }
    if (auto n = root["wrappers"]) out_->wrappers = string_list(n, "wrappers");
    if (auto n = root["stack_depth"]) {
      int d = 0;
      if (!as_int(n, &d) || d < 1 || d > 64) error(n, "stack_depth must be an integer from 1 to 64");
      else out_->stack_depth = d;
    }
    if (auto n = root["rules"]) rules(n);
  }

  void error(const YAML::Node& n, const std::string& msg) { problems_->push_back({file_, loc(n), msg}); }
  void error_at(const YAML::Mark& m, const std::string& msg) {
    problems_->push_back({file_, Loc{m.line + 1, m.column + 1}, msg});
  }

 private:
  static Loc loc(const YAML::Node& n) {
    YAML::Mark m = n.Mark();
    if (m.is_null()) return {};
    return Loc{m.line + 1, m.column + 1};
  }

  void check_keys(const YAML::Node& map, std::initializer_list<const char*> allowed, const std::string& where) {
    std::string list;
    for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (!it->first.IsScalar()) {
        error(it->first, "expected a key name in " + where);
        continue;
      }
      std::string k = it->first.Scalar();
      bool ok = false;
      for (const char* a : allowed) ok = ok || k == a;
      if (!ok) error(it->first, "unknown key '" + k + "' in " + where + " (expected one of " + list + ")");
      else if (!seen.insert(k).second) error(it->first, "duplicate key '" + k + "' in " + where);
    }
  }

  std::string scalar(const YAML::Node& n, const std::string& what) {
    if (!n.IsScalar()) {
      error(n, "expected a single value for '" + what + "'");
      return {};
    }
    return n.Scalar();
  }

  bool as_int(const YAML::Node& n, int* out) {
    if (!n.IsScalar()) return false;
    try {
      *out = n.as<int>();
      return true;
    } catch (const YAML::Exception&) {
      return false;
    }
  }

  std::vector<std::string> string_list(const YAML::Node& n, const std::string& what) {
    std::vector<std::string> out;
    if (n.IsScalar()) {
      out.push_back(n.Scalar());
      return out;
    }
    if (!n.IsSequence()) {
      error(n, "expected a list of names for '" + what + "'");
      return out;
    }
    for (const auto& item : n) {
      if (!item.IsScalar()) error(item, "expected a name in '" + what + "'");
      else out.push_back(item.Scalar());
    }
    return out;
  }

  void tiers(const YAML::Node& n) {
    if (!n.IsMap()) {
      error(n, "expected 'tiers' to map tier names to their definitions");
      return;
    }
    for (auto it = n.begin(); it != n.end(); ++it) {
      TierSpec t;
      t.name = it->first.Scalar();
      t.loc = loc(it->first);
      // A copy: it->second refers into a temporary that dies with this statement.
      YAML::Node d = it->second;
      if (t.name.empty() || t.name.size() >= kNameLen) {
        error(it->first, "tier names must have 1 to " + std::to_string(kNameLen - 1) + " characters");
        continue;
      }
      if (!d.IsMap()) {
        error(d, "expected tier '" + t.name + "' to be a mapping such as { select: lowest_latency } or { nodes: [1] }");
        continue;
      }
      check_keys(d, {"nodes", "select", "mode", "limit", "transient", "initiator", "threshold", "kind"},
                 "tier '" + t.name + "'");
      if (auto x = d["nodes"]) {
        t.has_nodes = true;
        if (!x.IsSequence() && !x.IsScalar()) error(x, "expected 'nodes' to be a list of NUMA node numbers");
        auto add = [&](const YAML::Node& v) {
          int id = -1;
          if (!as_int(v, &id) || id < 0 || id >= kNodeWords * 64)
            error(v, "expected a NUMA node number from 0 to " + std::to_string(kNodeWords * 64 - 1));
          else
            t.nodes.push_back(id);
        };
        if (x.IsScalar()) add(x);
        else for (const auto& v : x) add(v);
        if (x.IsSequence() && x.size() == 0) error(x, "'nodes' is empty (expected at least one node)");
      }
      if (auto x = d["select"]) {
        t.select = scalar(x, "select");
        t.select_loc = loc(x);
      }
      if (auto x = d["kind"]) {
        t.kind = scalar(x, "kind");
        t.kind_loc = loc(x);
      }
      if (auto x = d["threshold"]) {
        try {
          t.threshold = x.IsScalar() ? x.as<double>() : -1;
        } catch (const YAML::Exception&) {
          t.threshold = -1;
        }
        if (t.threshold <= 0) error(x, "expected a read bandwidth in MB/s for 'threshold', such as 200000");
        else if (t.select != "hbw") error(x, "'threshold' applies to 'select: hbw' only");
      }
      if (auto x = d["initiator"]) {
        std::string v = scalar(x, "initiator");
        if (v == "thread") t.per_thread = true;
        else if (v != "process") error(x, "unknown initiator '" + v + "' (expected process or thread)");
      }
      if (auto x = d["mode"]) {
        std::string m = scalar(x, "mode");
        if (m == "preferred") t.mode = TierMode::kPreferred;
        else if (m == "bind") t.mode = TierMode::kBind;
        else if (m == "interleave") t.mode = TierMode::kInterleave;
        else if (!m.empty()) error(x, "unknown mode '" + m + "' (expected one of preferred, bind, interleave)");
      }
      if (auto x = d["limit"]) {
        std::string e;
        if (!x.IsScalar() || !parse_size(x.Scalar(), &t.limit, &e)) error(x, x.IsScalar() ? e : "expected a size for 'limit'");
      }
      if (auto x = d["transient"]) {
        t.transient = true;
        t.transient_loc = loc(x);
        if (!x.IsMap()) {
          error(x, "expected 'transient' to be a mapping such as { path: /mnt/pmem0, size: 64GiB }");
        } else {
          check_keys(x, {"path", "size"}, "transient tier '" + t.name + "'");
          if (auto pth = x["path"]) t.transient_path = scalar(pth, "path");
          else error(x, "transient tier '" + t.name + "' has no 'path' (expected a directory, e.g. an fsdax mount)");
          if (auto sz = x["size"]) {
            std::string e;
            if (!sz.IsScalar() || !parse_size(sz.Scalar(), &t.transient_size, &e)) error(sz, sz.IsScalar() ? e : "expected a size for 'size'");
          }
        }
      }
      if (t.has_nodes + !t.select.empty() + !t.kind.empty() + t.transient != 1)
        error(it->first, "tier '" + t.name + "' needs exactly one of 'nodes', 'select', 'kind' or 'transient'");
      for (const auto& other : out_->tiers)
        if (other.name == t.name) error(it->first, "duplicate tier '" + t.name + "'");
      out_->tiers.push_back(t);
    }
  }

  void rules(const YAML::Node& n) {
    if (!n.IsSequence()) {
      error(n, "expected 'rules' to be a list of rules, each with 'match' and 'tier'");
      return;
    }
    int index = 0;
    for (const auto& r : n) {
      ++index;
      RuleSpec rule;
      rule.loc = loc(r);
      rule.name = "rule-" + std::to_string(index);
      if (!r.IsMap()) {
        error(r, "expected a rule with 'match' and 'tier'");
        continue;
      }
      check_keys(r, {"name", "match", "tier", "fallback"}, "rule " + std::to_string(index));
      if (auto x = r["name"]) {
        rule.name = scalar(x, "name");
        if (rule.name.size() >= kNameLen) error(x, "rule names must have fewer than " + std::to_string(kNameLen) + " characters");
      }
      if (auto x = r["tier"]) {
        rule.tier = scalar(x, "tier");
        rule.tier_loc = loc(x);
      } else {
        error(r, "rule '" + rule.name + "' has no 'tier' (expected the name of a tier)");
      }
      if (auto x = r["fallback"]) {
        rule.fallback = string_list(x, "fallback");
        rule.fallback_loc = loc(x);
      }
      if (auto m = r["match"]) match(m, &rule);
      else error(r, "rule '" + rule.name + "' has no 'match' (expected size, module, function, stack or api)");
      out_->rules.push_back(rule);
    }
  }

  void match(const YAML::Node& m, RuleSpec* rule) {
    if (!m.IsMap()) {
      error(m, "expected 'match' to be a mapping of conditions");
      return;
    }
    check_keys(m, {"size", "module", "function", "stack", "api"}, "match of rule '" + rule->name + "'");
    if (auto x = m["size"]) {
      std::string e;
      if (!x.IsScalar()) error(x, "expected a size condition such as '>= 1MiB'");
      else if (!parse_size_range(x.Scalar(), &rule->size, &e)) error(x, e);
      rule->has_size = true;
    }
    if (auto x = m["module"]) { rule->module = string_list(x, "module"); rule->site_loc = loc(x); }
    if (auto x = m["function"]) { rule->function = string_list(x, "function"); rule->site_loc = loc(x); }
    if (auto x = m["stack"]) { rule->stack = string_list(x, "stack"); rule->site_loc = loc(x); }
    if (auto x = m["api"]) {
      rule->apis = 0;
      auto names = string_list(x, "api");
      for (const auto& a : names) {
        uint32_t bit = parse_api(a);
        if (!bit) error(x, "unknown api '" + a + "' (expected one of " + kApiNames + ")");
        rule->apis |= bit;
      }
      if (names.empty()) error(x, "'api' is empty (expected one of " + std::string(kApiNames) + ")");
    }
  }

  std::string file_;
  PolicySpec* out_;
  std::vector<Problem>* problems_;
};

}  // namespace

bool parse_policy_text(const std::string& text, const std::string& file, PolicySpec* out,
                       std::vector<Problem>* problems) {
  size_t before = problems->size();
  *out = PolicySpec{};
  out->file = file;
  Parser p(file, out, problems);
  if (text.size() > kMaxPolicyBytes) {
    problems->push_back({file, {}, "policy is " + std::to_string(text.size()) + " bytes (at most " +
                                       std::to_string(kMaxPolicyBytes) + " are accepted)"});
    return false;
  }
  Loc deep;
  if (!nesting_ok(text, &deep)) {
    problems->push_back({file, deep, "nesting deeper than " + std::to_string(kMaxNesting) +
                                         " levels (a policy needs at most 6): refused"});
    return false;
  }
  try {
    YAML::Node root = YAML::Load(text);
    if (!root || root.IsNull()) {
      problems->push_back({file, {}, "policy is empty (expected 'version', 'tiers', 'default' and 'rules')"});
      return false;
    }
    p.document(root);
  } catch (const YAML::Exception& e) {
    p.error_at(e.mark, "YAML syntax: " + e.msg);
  } catch (const std::exception& e) {
    problems->push_back({file, {}, std::string("cannot parse policy: ") + e.what()});
  }
  return problems->size() == before;
}

bool parse_policy_file(const std::string& path, PolicySpec* out, std::vector<Problem>* problems) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    problems->push_back({path, {}, "cannot open policy file"});
    return false;
  }
  std::string text;
  char buf[65536];
  while (f.read(buf, sizeof buf) || f.gcount() > 0) {
    text.append(buf, static_cast<size_t>(f.gcount()));
    if (text.size() > kMaxPolicyBytes) {  // refused unread; say how big it really is
      f.clear();
      f.seekg(0, std::ios::end);
      std::streamoff end = f.tellg();
      problems->push_back({path, {}, (end > 0 ? "policy is " + std::to_string(end) : "policy is more than " + std::to_string(kMaxPolicyBytes)) +
                                         " bytes (at most " + std::to_string(kMaxPolicyBytes) + " are accepted)"});
      return false;
    }
  }
  return parse_policy_text(text, path, out, problems);
}

}  // namespace tiermalloc::policy
