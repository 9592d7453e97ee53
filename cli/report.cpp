// SPDX-License-Identifier: MIT
// cli/report.cpp -- `tiermalloc report STATS [--html FILE] [--top N]`: the statistics JSON
// (TIERMALLOC_STATS) as tables a person reads at a glance, and as one self-contained HTML
// page: an inline SVG chart of each tier's live bytes over time, the tables, and the busiest
// call sites as bars.  The page loads nothing (no script at all; a Content-Security-Policy
// forbids any), and every string from the JSON is escaped: site and module names come from
// the program's binaries and are untrusted.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "cli/common.hpp"
#include "cli/json.hpp"

namespace tiermalloc::cli {
namespace {

struct Tier {
  std::string name, kind, nodes;
  uint64_t live = 0, peak = 0, limit = 0, allocations = 0, frees = 0, bytes = 0, fallbacks = 0;
  uint64_t mmap_count = 0, mmap_live = 0;  // anonymous mappings placed on the tier (api: mmap rules)
  bool has_limit = false;
};
struct Rule {
  std::string name, tier;
  uint64_t matches = 0, bytes = 0;
};
struct Site {
  std::string module, function, offset, tier, rule, api;
  uint64_t allocations = 0, frees = 0, bytes = 0, live = 0, peak = 0;
};
struct Series {
  std::string name;
  std::vector<uint64_t> v;
};
struct Stats {
  std::string file, program, policy, reason;
  uint64_t pid = 0, elapsed_ms = 0;
  bool has_elapsed = false;
  std::vector<Tier> tiers;
  std::vector<Rule> rules;
  std::vector<Site> sites;
  std::vector<uint64_t> t_ms;
  std::vector<Series> timeline;
};

// ---- reading ------------------------------------------------------------------------------

Stats load(const std::string& path) {
  json::Value doc = load_json(path, "report");
  Reader r{"report", path};
  Stats s;
  s.file = path;
  if (!doc.is_object()) r.bad(doc, "the document", "an object with \"version\" and \"tiers\" (tiermalloc statistics)");
  if (const json::Value* k = doc.get("kind"); k && !(k->is_string() && k->str == "stats")) {
    if (k->is_string() && k->str == "profile")
      fail("report: " + path + " is a profile (\"kind\": \"profile\"), not statistics: give it to 'tiermalloc suggest'");
    r.bad(*k, "kind", "\"stats\" or no kind");
  }
  const json::Value* ver = doc.get("version");
  if (!ver) fail("report: " + path + ":1:1: missing \"version\" (expected tiermalloc statistics, version 1)");
  if (!ver->is_number() || !ver->is_uint || ver->uint != 1) {
    if (ver->is_number())
      fail("report: " + path + ":" + std::to_string(ver->line) + ":" + std::to_string(ver->col) + ": unsupported version " +
           (ver->is_uint ? std::to_string(ver->uint) : std::to_string(ver->number)) + " (expected 1)");
    r.bad(*ver, "version", "1");
  }
  s.program = r.str(doc, "program", "");
  s.policy = r.str(doc, "policy", "");
  s.reason = r.str(doc, "reason", "");
  s.pid = r.u64(doc, "pid", "");
  s.has_elapsed = doc.get("elapsed_ms") && !doc.get("elapsed_ms")->is_null();
  s.elapsed_ms = r.u64(doc, "elapsed_ms", "");
  const json::Value& tiers = r.array(doc, "tiers", "the document", true);
  for (size_t i = 0; i < tiers.items.size(); ++i) {
    const json::Value& t = tiers.items[i];
    std::string w = "tiers[" + std::to_string(i) + "]";
    if (!t.is_object()) r.bad(t, w, "an object");
    Tier x;
    x.name = r.str(t, "name", w);
    x.kind = r.str(t, "kind", w, "numa");
    if (const json::Value* av = t.get("available"); av && av->type == json::Value::Type::kBool && !av->boolean)
      x.kind += " (unavailable)";  // its allocations took the fallback chain
    for (const json::Value& n : r.array(t, "nodes", w, false).items) {
      if (!n.is_uint) r.bad(n, w + ".nodes", "node numbers");
      x.nodes += (x.nodes.empty() ? "" : ",") + std::to_string(n.uint);
    }
    x.live = r.u64(t, "bytes_live", w);
    x.peak = r.u64(t, "bytes_peak", w);
    x.allocations = r.u64(t, "allocations", w);
    x.frees = r.u64(t, "frees", w);
    // "bytes" per the statistics format; "bytes_allocated" is what earlier versions wrote.
    x.bytes = t.get("bytes") ? r.u64(t, "bytes", w) : r.u64(t, "bytes_allocated", w);
    x.fallbacks = r.u64(t, "fallbacks_out", w);
    x.mmap_count = r.u64(t, "mmap_count", w);
    x.mmap_live = r.u64(t, "mmap_bytes_live", w);
    x.has_limit = t.get("limit") && !t.get("limit")->is_null();
    x.limit = r.u64(t, "limit", w);
    s.tiers.push_back(x);
  }
  const json::Value& rules = r.array(doc, "rules", "the document", false);
  for (size_t i = 0; i < rules.items.size(); ++i) {
    const json::Value& j = rules.items[i];
    std::string w = "rules[" + std::to_string(i) + "]";
    if (!j.is_object()) r.bad(j, w, "an object");
    s.rules.push_back({r.str(j, "name", w, "rule-" + std::to_string(i + 1)), r.str(j, "tier", w), r.u64(j, "matches", w),
                       r.u64(j, "bytes", w)});
  }
  const json::Value& sites = r.array(doc, "sites", "the document", false);
  for (size_t i = 0; i < sites.items.size(); ++i) {
    const json::Value& j = sites.items[i];
    std::string w = "sites[" + std::to_string(i) + "]";
    if (!j.is_object()) r.bad(j, w, "an object");
    Site x;
    x.module = r.str(j, "module", w, "?");
    x.function = r.str(j, "function", w);
    x.offset = r.str(j, "offset", w);
    x.api = r.str(j, "api", w);
    x.tier = r.str(j, "tier", w);
    x.rule = r.str(j, "rule", w);
    x.allocations = r.u64(j, "allocations", w);
    x.frees = r.u64(j, "frees", w);
    x.bytes = r.u64(j, "bytes", w);
    x.live = r.u64(j, "bytes_live", w);
    x.peak = r.u64(j, "bytes_peak", w);
    s.sites.push_back(x);
  }
  // Busiest first: by cumulative bytes, then allocations (the writer's order is not relied on).
  std::stable_sort(s.sites.begin(), s.sites.end(), [](const Site& a, const Site& b) {
    return a.bytes != b.bytes ? a.bytes > b.bytes : a.allocations > b.allocations;
  });
  const json::Value& tl = r.object(doc, "timeline", "the document", false);
  for (const json::Value& t : r.array(tl, "t_ms", "timeline", false).items) {
    if (!t.is_uint) r.bad(t, "timeline.t_ms", "sample times in ms");
    s.t_ms.push_back(t.uint);
  }
  const json::Value& series = r.object(tl, "tiers", "timeline", false);
  for (const auto& m : series.members) {
    if (!m.second.is_array()) r.bad(m.second, "timeline.tiers." + m.first, "an array of byte counts");
    Series x{m.first, {}};
    for (const json::Value& v : m.second.items) {
      if (!v.is_uint) r.bad(v, "timeline.tiers." + m.first, "byte counts (non-negative integers)");
      x.v.push_back(v.uint);
    }
    if (x.v.size() != s.t_ms.size())
      fail("report: " + path + ":" + std::to_string(m.second.line) + ":" + std::to_string(m.second.col) + ": timeline.tiers." +
           m.first + ": " + std::to_string(x.v.size()) + " samples, but t_ms has " + std::to_string(s.t_ms.size()));
    s.timeline.push_back(std::move(x));
  }
  return s;
}

// ---- figures shared by the text and the page --------------------------------------------------

uint64_t total_allocations(const Stats& s) {
  uint64_t a = 0;
  for (const auto& t : s.tiers) a += t.allocations;
  return a;
}
uint64_t total_bytes(const Stats& s) {
  uint64_t b = 0;
  for (const auto& t : s.tiers) b += t.bytes;
  return b;
}
/** The highest sum of the tiers' live bytes over the timeline, or the sum of the tiers' peaks
 *  (an upper bound) when there is no timeline. */
uint64_t peak_live(const Stats& s, bool* from_timeline) {
  *from_timeline = !s.t_ms.empty() && !s.timeline.empty();
  uint64_t best = 0;
  if (*from_timeline) {
    for (size_t i = 0; i < s.t_ms.size(); ++i) {
      uint64_t sum = 0;
      for (const auto& x : s.timeline) sum += x.v[i];
      best = std::max(best, sum);
    }
  } else {
    for (const auto& t : s.tiers) best += t.peak;
  }
  return best;
}

std::string seconds(uint64_t ms) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f s", ms / 1000.0);
  return b;
}

std::string percent(uint64_t part, uint64_t whole) {
  if (!whole) return "-";
  char b[16];
  double p = 100.0 * static_cast<double>(part) / static_cast<double>(whole);
  std::snprintf(b, sizeof b, p < 10 && p > 0 ? "%.1f%%" : "%.0f%%", p);
  return b;
}

std::string site_function(const Site& x) { return x.function.empty() ? "?" : x.function; }

std::string summary_line(const Stats& s) {
  bool tl;
  uint64_t peak = peak_live(s, &tl), fb = 0;
  for (const auto& t : s.tiers) fb += t.fallbacks;
  std::string line = std::to_string(s.tiers.size()) + (s.tiers.size() == 1 ? " tier, " : " tiers, ") +
                     grouped(total_allocations(s)) + " allocations, " +
                     human_bytes(total_bytes(s)) + " requested, peak live " + human_bytes(peak) +
                     (tl ? "" : " (sum of tier peaks)") + ", " + grouped(fb) + " fallbacks";
  if (!s.sites.empty()) {
    const Site& top = s.sites.front();
    line += "; busiest site " + site_function(top) + " in " + top.module + " (" + percent(top.bytes, total_bytes(s)) +
            " of bytes)";
  }
  return line;
}

std::string header_line(const Stats& s) {
  std::string h = (s.program.empty() ? std::string("?") : s.program) + " (pid " + std::to_string(s.pid) + ")";
  h += s.policy.empty() ? ", no policy" : ", policy " + s.policy;
  if (s.has_elapsed) h += ", " + seconds(s.elapsed_ms);
  if (s.reason == "signal") h += ", written on a signal while running";
  else if (s.reason == "exit") h += ", written at exit";
  return h;
}

// ---- text tables --------------------------------------------------------------------------

size_t text_width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;  // code points, not bytes
  return n;
}

std::string clip(const std::string& s, size_t max) {
  if (text_width(s) <= max) return s;
  std::string o;
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c & 0xc0) != 0x80 && ++n > max - 3) break;
    o += s[i];
  }
  return o + "...";
}

struct Table {
  std::vector<std::string> head;
  std::string right;  // 'r' or 'l' per column
  std::vector<size_t> max;  // 0 = no clipping
  std::vector<std::vector<std::string>> rows;

  void print() const {
    std::vector<size_t> w(head.size());
    std::vector<std::vector<std::string>> cells;
    for (size_t c = 0; c < head.size(); ++c) w[c] = text_width(head[c]);
    for (const auto& row : rows) {
      std::vector<std::string> r;
      for (size_t c = 0; c < head.size(); ++c) {
        std::string v = printable(c < row.size() ? row[c] : "");
        if (c < max.size() && max[c]) v = clip(v, max[c]);
        w[c] = std::max(w[c], text_width(v));
        r.push_back(v);
      }
      cells.push_back(r);
    }
    auto line = [&](const std::vector<std::string>& r) {
      std::string o = " ";
      for (size_t c = 0; c < r.size(); ++c) {
        std::string pad(w[c] - text_width(r[c]), ' ');
        bool last = c + 1 == r.size();
        o += right[c] == 'r' ? pad + r[c] : (last ? r[c] : r[c] + pad);
        if (!last) o += "  ";
      }
      std::printf("%s\n", o.c_str());
    };
    line(head);
    for (const auto& r : cells) line(r);
  }
};

/** The tiers table: columns, alignment, rows; the mappings' columns only when a tier has some. */
struct TierTable {
  std::vector<std::string> head;
  std::string align;
  std::vector<std::vector<std::string>> rows;
};
TierTable tier_table(const Stats& s) {
  bool maps = false;
  for (const auto& x : s.tiers) maps = maps || x.mmap_count || x.mmap_live;
  TierTable t{{"tier", "kind", "nodes", "live", "peak", "limit", "peak/limit", "allocations", "frees", "fallbacks"}, "lllrrrrrrr", {}};
  if (maps) {
    t.head.insert(t.head.end(), {"mappings", "mapped live"});
    t.align += "rr";
  }
  for (const auto& x : s.tiers) {
    t.rows.push_back({x.name, x.kind, x.nodes.empty() ? "-" : x.nodes, human_bytes(x.live), human_bytes(x.peak),
                      x.has_limit ? human_bytes(x.limit) : "-", x.has_limit ? percent(x.peak, x.limit) : "-",
                      grouped(x.allocations), grouped(x.frees), grouped(x.fallbacks)});
    if (maps) t.rows.back().insert(t.rows.back().end(), {grouped(x.mmap_count), human_bytes(x.mmap_live)});
  }
  return t;
}

void print_text(const Stats& s, size_t top) {
  std::printf("tiermalloc report: %s\n", printable(header_line(s)).c_str());
  std::printf("summary: %s\n", printable(summary_line(s)).c_str());
  std::printf("\ntiers\n");
  TierTable tt = tier_table(s);
  Table t{tt.head, tt.align, {24}, tt.rows};
  t.print();
  if (!s.rules.empty()) {
    std::printf("\nrules (first match wins)\n");
    Table r{{"rule", "tier", "matches", "bytes", "of all bytes"}, "llrrr", {32, 24}, {}};
    uint64_t all = total_bytes(s);
    for (const auto& x : s.rules)
      r.rows.push_back({x.name, x.tier, grouped(x.matches), human_bytes(x.bytes), percent(x.bytes, all)});
    r.print();
  }
  if (!s.sites.empty()) {
    size_t n = std::min(top, s.sites.size());
    std::printf("\nbusiest call sites (%zu of %zu, by bytes requested)\n", n, s.sites.size());
    Table c{{"#", "module", "function", "offset", "allocations", "bytes", "peak live", "tier", "rule"}, "rlllrrrll",
            {0, 28, 40, 0, 0, 0, 0, 16, 24}, {}};
    for (size_t i = 0; i < n; ++i) {
      const Site& x = s.sites[i];
      c.rows.push_back({std::to_string(i + 1), x.module, site_function(x), x.offset.empty() ? "-" : x.offset,
                        grouped(x.allocations), human_bytes(x.bytes), human_bytes(x.peak), x.tier.empty() ? "-" : x.tier,
                        x.rule.empty() ? "(default)" : x.rule});
    }
    c.print();
  }
  if (s.t_ms.empty()) std::printf("\n(no timeline in these statistics: the page's chart needs one)\n");
}

// ---- the page ----------------------------------------------------------------------------------

/** Text and attribute values: & < > " ' escaped; control characters and invalid UTF-8
 *  become U+FFFD, so nothing from the file can change the page's structure. */
std::string esc(const std::string& s) {
  std::string o;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '&': o += "&amp;"; break;
        case '<': o += "&lt;"; break;
        case '>': o += "&gt;"; break;
        case '"': o += "&quot;"; break;
        case '\'': o += "&#39;"; break;
        default:
          if (c < 0x20 || c == 0x7f) o += "\xef\xbf\xbd";
          else o += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    size_t n = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    bool ok = n && i + n <= s.size();
    for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok) {
      o.append(s, i, n);
      i += n;
    } else {
      o += "\xef\xbf\xbd";
      ++i;
    }
  }
  return o;
}

const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                          "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};

std::string fmt(const char* f, double a) {
  char b[64];
  std::snprintf(b, sizeof b, f, a);
  return b;
}

/** A "nice" step (1, 2, 5 x 10^k) that divides range into at most `ticks` parts. */
double nice_step(double range, int ticks) {
  if (range <= 0) return 1;
  double raw = range / ticks, mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

struct ByteAxis {
  double unit = 1, step = 1, top = 1;
  const char* name = "B";
};
ByteAxis byte_axis(uint64_t max) {
  static const char* names[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  ByteAxis a;
  int u = 0;
  while (u < 4 && static_cast<double>(max) >= 1024.0 * a.unit) {
    a.unit *= 1024;
    ++u;
  }
  a.name = names[u];
  double v = std::max(1.0, static_cast<double>(max) / a.unit);
  a.step = nice_step(v, 5);
  a.top = std::ceil(v / a.step - 1e-9) * a.step * a.unit;
  return a;
}

std::string timeline_svg(const Stats& s, const std::map<std::string, std::string>& colour) {
  const double W = 1100, H = 440, L = 90, R = 30, T = 20, B = 90;
  const double pw = W - L - R, ph = H - T - B;
  std::string o = "<svg id=\"timeline-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt("%.0f", W) +
                  "\" height=\"" + fmt("%.0f", H) + "\" viewBox=\"0 0 " + fmt("%.0f", W) + " " + fmt("%.0f", H) +
                  "\" role=\"img\" aria-label=\"live bytes per tier over time\">\n";
  uint64_t dmax = 0;
  for (const auto& x : s.timeline)
    for (uint64_t v : x.v) dmax = std::max(dmax, v);
  // A limit is drawn when it is on the chart's scale (at most twice the data); otherwise the
  // legend gives it, so that a 14 GiB budget does not flatten 100 MiB of use.
  uint64_t ymax = dmax;
  std::map<std::string, uint64_t> limits;
  for (const auto& t : s.tiers)
    if (t.has_limit && colour.count(t.name)) {
      limits[t.name] = t.limit;
      if (t.limit <= 2 * std::max<uint64_t>(dmax, 1)) ymax = std::max(ymax, t.limit);
    }
  ByteAxis ya = byte_axis(ymax);
  uint64_t t0 = s.t_ms.front(), t1 = s.t_ms.back();
  double span = static_cast<double>(std::max<uint64_t>(t1 - t0, 1));
  bool in_s = span >= 2000;
  double tunit = in_s ? 1000 : 1, tstep = nice_step(span / tunit, 10) * tunit;
  auto X = [&](uint64_t t) { return L + pw * static_cast<double>(t - t0) / span; };
  auto Y = [&](double v) { return T + ph - ph * v / ya.top; };
  o += "<rect x=\"" + fmt("%.0f", L) + "\" y=\"" + fmt("%.0f", T) + "\" width=\"" + fmt("%.0f", pw) + "\" height=\"" +
       fmt("%.0f", ph) + "\" fill=\"#fbfbfb\" stroke=\"#999\"/>\n<g class=\"y-axis\" font-size=\"12\" text-anchor=\"end\">\n";
  for (double v = 0; v <= ya.top / ya.unit + 1e-9; v += ya.step) {
    double y = Y(v * ya.unit);
    o += "<line x1=\"" + fmt("%.0f", L) + "\" x2=\"" + fmt("%.0f", L + pw) + "\" y1=\"" + fmt("%.1f", y) + "\" y2=\"" +
         fmt("%.1f", y) + "\" stroke=\"#e4e4e4\"/><text x=\"" + fmt("%.0f", L - 6) + "\" y=\"" + fmt("%.1f", y + 4) + "\">" +
         fmt("%g", v) + " " + ya.name + "</text>\n";
  }
  o += "</g>\n<g class=\"x-axis\" font-size=\"12\" text-anchor=\"middle\">\n";
  // Ticks at round times: multiples of the step, from the first sample's time on.
  for (double ta = std::ceil(static_cast<double>(t0) / tstep - 1e-9) * tstep; ta <= static_cast<double>(t1) + 1e-9; ta += tstep) {
    double t = ta - static_cast<double>(t0);
    double x = L + pw * t / span;
    o += "<line x1=\"" + fmt("%.1f", x) + "\" x2=\"" + fmt("%.1f", x) + "\" y1=\"" + fmt("%.0f", T + ph) + "\" y2=\"" +
         fmt("%.0f", T + ph + 5) + "\" stroke=\"#666\"/><text x=\"" + fmt("%.1f", x) + "\" y=\"" + fmt("%.0f", T + ph + 19) +
         "\">" + fmt("%g", ta / tunit) + (in_s ? " s" : " ms") + "</text>\n";
  }
  o += "<text x=\"" + fmt("%.0f", L + pw / 2) + "\" y=\"" + fmt("%.0f", T + ph + 38) + "\">time since start</text>\n</g>\n";
  o += "<text transform=\"translate(16," + fmt("%.0f", T + ph / 2) +
       ") rotate(-90)\" font-size=\"12\" text-anchor=\"middle\">live bytes</text>\n";
  // Series: crisp edges, so that each tier's colour is exactly its own on screen.  At most
  // ~2 points per pixel column: longer timelines keep each column's maximum (peaks stay).
  size_t n = s.t_ms.size(), stride = std::max<size_t>(1, n / 1000);
  for (const auto& x : s.timeline) {
    const std::string& c = colour.at(x.name);
    o += "<polyline class=\"series\" data-tier=\"" + esc(x.name) + "\" fill=\"none\" stroke=\"" + c +
         "\" stroke-width=\"2.5\" stroke-linejoin=\"round\" shape-rendering=\"crispEdges\" points=\"";
    for (size_t i = 0; i < n; i += stride) {
      uint64_t v = 0;
      for (size_t k = i; k < std::min(n, i + stride); ++k) v = std::max(v, x.v[k]);
      o += fmt("%.1f", X(s.t_ms[i])) + "," + fmt("%.1f", Y(static_cast<double>(v))) + " ";
    }
    o += "\"><title>" + esc(x.name) + "</title></polyline>\n";
  }
  for (const auto& [name, lim] : limits) {
    if (static_cast<double>(lim) > ya.top) continue;
    double y = Y(static_cast<double>(lim));
    o += "<g class=\"limit\" data-tier=\"" + esc(name) + "\"><line x1=\"" + fmt("%.0f", L) + "\" x2=\"" + fmt("%.0f", L + pw) +
         "\" y1=\"" + fmt("%.1f", y) + "\" y2=\"" + fmt("%.1f", y) + "\" stroke=\"" + colour.at(name) +
         "\" stroke-width=\"1.5\" stroke-dasharray=\"8 5\" stroke-opacity=\"0.8\"/><text x=\"" + fmt("%.0f", L + pw - 4) +
         "\" y=\"" + fmt("%.1f", y - 4) + "\" font-size=\"11\" text-anchor=\"end\" fill=\"#333\">" + esc(name) + " limit " +
         human_bytes(lim) + "</text></g>\n";
  }
  // The legend, under the axis title.
  o += "<g class=\"legend\" font-size=\"13\">\n";
  double lx = L, ly = H - 22;
  for (const auto& x : s.timeline) {
    std::string label = x.name;
    if (limits.count(x.name))
      label += " (limit " + human_bytes(limits[x.name]) + (static_cast<double>(limits[x.name]) > ya.top ? ", off scale)" : ")");
    o += "<g class=\"legend-item\" data-tier=\"" + esc(x.name) + "\"><line x1=\"" + fmt("%.0f", lx) + "\" x2=\"" +
         fmt("%.0f", lx + 22) + "\" y1=\"" + fmt("%.0f", ly - 4) + "\" y2=\"" + fmt("%.0f", ly - 4) + "\" stroke=\"" +
         colour.at(x.name) + "\" stroke-width=\"3\"/><text x=\"" + fmt("%.0f", lx + 28) + "\" y=\"" + fmt("%.0f", ly) + "\">" +
         esc(label) + "</text></g>\n";
    lx += 50 + 7.5 * static_cast<double>(text_width(label));
    if (lx > W - 150) {
      lx = L;
      ly += 18;
    }
  }
  o += "</g>\n</svg>\n";
  return o;
}

std::string sites_svg(const Stats& s, size_t n, const std::map<std::string, std::string>& colour) {
  const double W = 1100, L = 360, R = 250, row = 22, T = 10;
  double H = T + row * static_cast<double>(n) + 10;
  uint64_t max = 1;
  for (size_t i = 0; i < n; ++i) max = std::max(max, s.sites[i].peak);
  std::string o = "<svg id=\"sites-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt("%.0f", W) + "\" height=\"" +
                  fmt("%.0f", H) + "\" viewBox=\"0 0 " + fmt("%.0f", W) + " " + fmt("%.0f", H) +
                  "\" role=\"img\" aria-label=\"peak live bytes per call site\" font-size=\"12\">\n";
  for (size_t i = 0; i < n; ++i) {
    const Site& x = s.sites[i];
    double y = T + row * static_cast<double>(i);
    double w = std::max(1.0, (W - L - R) * static_cast<double>(x.peak) / static_cast<double>(max));
    auto c = colour.find(x.tier);
    std::string label = clip(site_function(x), 34) + "  " + clip(x.module, 18);
    o += "<g class=\"site\"><text x=\"" + fmt("%.0f", L - 8) + "\" y=\"" + fmt("%.0f", y + 15) + "\" text-anchor=\"end\">" +
         esc(label) + "</text><rect x=\"" + fmt("%.0f", L) + "\" y=\"" + fmt("%.0f", y + 3) + "\" width=\"" + fmt("%.1f", w) +
         "\" height=\"" + fmt("%.0f", row - 6) + "\" fill=\"" + (c == colour.end() ? "#999999" : c->second) +
         "\" fill-opacity=\"0.55\"><title>" + esc(site_function(x) + " in " + x.module + " at " + x.offset) +
         "</title></rect><text x=\"" + fmt("%.1f", L + w + 6) + "\" y=\"" + fmt("%.0f", y + 15) + "\">" +
         esc(human_bytes(x.peak) + " peak, " + human_bytes(x.bytes) + " in all" + (x.tier.empty() ? "" : ", " + x.tier)) +
         "</text></g>\n";
  }
  return o + "</svg>\n";
}

std::string html_table(const std::vector<std::string>& head, const std::string& right,
                       const std::vector<std::vector<std::string>>& rows, const std::vector<std::string>& swatch = {}) {
  std::string o = "<table><thead><tr>";
  for (size_t c = 0; c < head.size(); ++c) o += std::string(right[c] == 'r' ? "<th class=\"num\">" : "<th>") + esc(head[c]) + "</th>";
  o += "</tr></thead><tbody>\n";
  for (size_t r = 0; r < rows.size(); ++r) {
    o += "<tr>";
    for (size_t c = 0; c < head.size(); ++c) {
      o += right[c] == 'r' ? "<td class=\"num\">" : "<td>";
      if (c == 0 && r < swatch.size() && !swatch[r].empty())
        o += "<span class=\"swatch\" style=\"background:" + swatch[r] + "\"></span>";
      o += esc(rows[r][c]) + "</td>";
    }
    o += "</tr>\n";
  }
  return o + "</tbody></table>\n";
}

void write_html(const Stats& s, size_t top, const std::string& out) {
  std::map<std::string, std::string> colour;
  size_t next = 0;
  for (const auto& t : s.tiers)
    if (!colour.count(t.name)) colour[t.name] = kColours[next++ % 10];
  for (const auto& x : s.timeline)
    if (!colour.count(x.name)) colour[x.name] = kColours[next++ % 10];
  std::string h =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
      "<title>tiermalloc report: " + esc(s.program) + "</title>\n<style>\n"
      "body{font:14px/1.4 system-ui,sans-serif;margin:16px 24px;color:#222;background:#fff}\n"
      "h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:20px 0 6px}\n"
      ".meta{color:#555;margin:0}.summary{margin:2px 0 8px}\n"
      "table{border-collapse:collapse;font-size:13px}th,td{padding:3px 10px;border-bottom:1px solid #e2e2e2;text-align:left;white-space:nowrap}\n"
      "th{background:#f3f3f3}.num{text-align:right;font-variant-numeric:tabular-nums}\n"
      "svg{max-width:100%;height:auto}\n"
      ".swatch{display:inline-block;width:10px;height:10px;margin-right:6px;opacity:.6}\n"
      "</style></head><body>\n<header><h1>tiermalloc report</h1>\n<p class=\"meta\">" + esc(header_line(s)) +
      "</p>\n<p class=\"summary\">" + esc(summary_line(s)) + "</p></header>\n";
  h += "<section id=\"timeline\"><h2>Live bytes per tier over time</h2>\n";
  if (s.t_ms.empty() || s.timeline.empty()) h += "<p>These statistics have no timeline.</p>\n";
  else h += timeline_svg(s, colour);
  h += "</section>\n<section id=\"tiers\"><h2>Tiers</h2>\n";
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> sw;
  for (const auto& x : s.tiers) sw.push_back(colour[x.name]);
  TierTable tt = tier_table(s);
  h += html_table(tt.head, tt.align, tt.rows, sw);
  h += "</section>\n";
  if (!s.rules.empty()) {
    rows.clear();
    uint64_t all = total_bytes(s);
    for (const auto& x : s.rules) rows.push_back({x.name, x.tier, grouped(x.matches), human_bytes(x.bytes), percent(x.bytes, all)});
    h += "<section id=\"rules\"><h2>Rules (first match wins)</h2>\n" +
         html_table({"rule", "tier", "matches", "bytes", "of all bytes"}, "llrrr", rows) + "</section>\n";
  }
  if (!s.sites.empty()) {
    size_t n = std::min(top, s.sites.size());
    h += "<section id=\"sites\"><h2>Busiest call sites (" + std::to_string(n) + " of " + std::to_string(s.sites.size()) +
         ", by bytes requested; bars: peak live bytes)</h2>\n" + sites_svg(s, n, colour);
    rows.clear();
    for (size_t i = 0; i < n; ++i) {
      const Site& x = s.sites[i];
      rows.push_back({std::to_string(i + 1), x.module, site_function(x), x.offset.empty() ? "-" : x.offset,
                      grouped(x.allocations), human_bytes(x.bytes), human_bytes(x.peak), x.tier.empty() ? "-" : x.tier,
                      x.rule.empty() ? "(default)" : x.rule});
    }
    h += html_table({"#", "module", "function", "offset", "allocations", "bytes", "peak live", "tier", "rule"}, "rlllrrrll",
                    rows) + "</section>\n";
  }
  h += "</body></html>\n";
  std::ofstream f(out, std::ios::binary | std::ios::trunc);
  if (!f || !(f << h) || !f.flush()) fail("report: cannot write '" + out + "': " + std::strerror(errno));
}

}  // namespace

int cmd_report(int argc, char** argv) {
  std::string path, html;
  size_t top = 20;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--html" || a == "--top") {
      if (i + 1 >= argc) fail("report: " + a + " needs a value");
      std::string v = argv[++i];
      if (a == "--html") {
        html = v;
      } else {
        char* end;
        long n = std::strtol(v.c_str(), &end, 10);
        if (v.empty() || *end || n < 1 || n > 1000) fail("report: --top expects a number from 1 to 1000, found '" + v + "'");
        top = static_cast<size_t>(n);
      }
    } else if (a.size() > 1 && a[0] == '-') {
      fail("report: unknown option '" + a + "' (expected --html FILE or --top N)");
    } else if (path.empty()) {
      path = a;
    } else {
      fail("report: one statistics file at a time");
    }
  }
  if (path.empty()) fail("report: no statistics file given (usage: tiermalloc report STATS [--html FILE] [--top N])");
  Stats s = load(path);
  print_text(s, top);
  if (!html.empty()) {
    write_html(s, top, html);
    std::printf("\nwrote %s\n", html.c_str());
  }
  return 0;
}

}  // namespace tiermalloc::cli
