// SPDX-License-Identifier: MIT
// topology/select.cpp -- which node(s) a property selector means on a machine.
//
// Order of evidence: HMAT figures (from sysfs or hwloc memattrs) for the initiators this
// process runs on; where a node has none, SLIT distance stands in for latency and capacity
// for everything else, and the answer says so.  Ties break by the next property
// (bandwidth, latency, capacity), then by the lowest node id; nodes equal on every
// property form one tier together.
#include <algorithm>
#include <cstdio>
#include <tuple>

#include "topology/topology.hpp"

namespace tiermalloc::topo {

Machine Machine::view_from(int initiator) const {
  Machine v;
  v.provider = provider;
  v.initiators = {initiator};
  auto covers = [&](const Node& n) {
    return n.hmat_initiators.empty() ||
           std::find(n.hmat_initiators.begin(), n.hmat_initiators.end(), initiator) != n.hmat_initiators.end();
  };
  bool any = false;
  for (const auto& n : nodes) any = any || (n.bandwidth() > 0 && covers(n));
  for (const auto& n : nodes) {
    Node c = n;
    if (initiator >= 0 && initiator < static_cast<int>(n.dist_row.size())) c.distance = n.dist_row[initiator];
    if (any) {
      if (n.bandwidth() > 0 && !covers(n)) continue;
    } else {
      c.read_bw = c.write_bw = c.read_lat = c.write_lat = 0;
      c.source = "distance";
    }
    v.nodes.push_back(c);
  }
  return v;
}

bool valid_kind(const std::string& k) { return k == "dram" || k == "hbm" || k == "cxl" || k == "pmem"; }

namespace {

// The reference "local DRAM": the best figures among nodes holding our CPUs.
void local_reference(const Machine& m, double* bw, double* lat, int* dist) {
  *bw = 0;
  *lat = 0;
  *dist = 0;
  for (const auto& n : m.nodes) {
    if (std::find(m.initiators.begin(), m.initiators.end(), n.id) == m.initiators.end()) continue;
    if (n.bandwidth() > *bw) *bw = n.bandwidth();
    if (n.latency() > 0 && (*lat == 0 || n.latency() < *lat)) *lat = n.latency();
    if (*dist == 0 || n.distance < *dist) *dist = n.distance;
  }
}

// The same from the memory's own point of view (best figures over any initiator), for
// telling kinds apart: a remote socket's DRAM is DRAM, not slow memory.
void peak_reference(const Machine& m, double* bw, double* lat) {
  *bw = 0;
  *lat = 0;
  for (const auto& n : m.nodes) {
    if (!n.has_cpus) continue;
    if (n.peak_bw > *bw) *bw = n.peak_bw;
    if (n.peak_lat > 0 && (*lat == 0 || n.peak_lat < *lat)) *lat = n.peak_lat;
  }
}

}  // namespace

void classify(Machine* m) {
  for (auto& n : m->nodes) {
    if (n.peak_bw == 0) n.peak_bw = n.bandwidth();
    if (n.peak_lat == 0) n.peak_lat = n.latency();
  }
  double ref_bw, ref_lat, unused_bw, unused_lat;
  int ref_dist;
  local_reference(*m, &unused_bw, &unused_lat, &ref_dist);
  peak_reference(*m, &ref_bw, &ref_lat);
  for (auto& n : m->nodes) {
    std::string k = n.kind;
    if (k == "NVM" || k == "pmem" || k == "PMEM" || k == "SPM") {
      if (n.kind_source.empty()) n.kind_source = "hwloc subtype " + k;
      n.kind = "pmem";
    } else if (k == "HBM" || k == "MCDRAM" || k == "hbm") {
      if (n.kind_source.empty()) n.kind_source = "hwloc subtype " + k;
      n.kind = "hbm";
    } else if (k == "CXL" || k == "CXL-DRAM" || k == "cxl") {
      if (n.kind_source.empty()) n.kind_source = "hwloc subtype " + k;
      n.kind = "cxl";
    } else if (n.has_cpus) {
      n.kind = "dram";
      n.kind_source = "has CPUs";
    } else if (n.peak_bw > 0 && ref_bw > 0) {
      if (n.peak_bw >= 1.5 * ref_bw) n.kind = "hbm";
      else if ((n.peak_lat > 0 && ref_lat > 0 && n.peak_lat >= 1.5 * ref_lat) || n.peak_bw <= 0.5 * ref_bw)
        n.kind = "cxl";
      else
        n.kind = "dram";
      n.kind_source = "hmat figures vs local DRAM";
    } else {
      n.kind = n.distance > ref_dist ? "cxl" : "dram";
      n.kind_source = "memory-only node, NUMA distance (no HMAT)";
    }
  }
}

Selector parse_selector(const std::string& s) {
  if (s == "hbw") return Selector::kHbw;
  if (s == "lowest_latency") return Selector::kLowestLatency;
  if (s == "highest_bandwidth") return Selector::kHighestBandwidth;
  if (s == "highest_capacity") return Selector::kHighestCapacity;
  return Selector::kNone;
}

const char* selector_name(Selector s) {
  switch (s) {
    case Selector::kLowestLatency: return "lowest_latency";
    case Selector::kHighestBandwidth: return "highest_bandwidth";
    case Selector::kHighestCapacity: return "highest_capacity";
    case Selector::kHbw: return "hbw";
    default: return "none";
  }
}

Selection select_kind(const Machine& m, const std::string& kind) {
  Selection out;
  for (const auto& n : m.nodes)
    if (n.kind == kind) out.nodes.push_back(n.id);
  out.why = out.nodes.empty() ? "no node of kind " + kind + " on this machine" : "every node of kind " + kind;
  return out;
}

Selection select_nodes(const Machine& m, Selector s, double hbw_threshold) {
  Selection out;
  if (m.nodes.empty()) {
    out.why = "no memory nodes found";
    return out;
  }
  if (s == Selector::kHbw) {
    double ref_bw, ref_lat;
    int ref_dist;
    local_reference(m, &ref_bw, &ref_lat, &ref_dist);
    double thr = hbw_threshold > 0 ? hbw_threshold : 1.5 * ref_bw;
    if (thr <= 0) {
      out.why = "no bandwidth figures (no HMAT): no node can be called high-bandwidth";
      return out;
    }
    for (const auto& n : m.nodes)
      if (n.read_bw >= thr) out.nodes.push_back(n.id);
    char buf[160];
    std::snprintf(buf, sizeof buf, "read bandwidth >= %.0f MB/s%s", thr,
                  hbw_threshold > 0 ? "" : " (1.5x the local DRAM's)");
    out.why = out.nodes.empty() ? std::string("no node with ") + buf : buf;
    return out;
  }
  bool all_hmat = std::all_of(m.nodes.begin(), m.nodes.end(), [](const Node& n) { return n.latency() > 0 && n.bandwidth() > 0; });
  // A key in which smaller is better, as a tuple compared lexicographically.
  auto key = [&](const Node& n) {
    double lat = all_hmat ? n.latency() : n.distance;
    double bw = all_hmat ? -n.bandwidth() : 0;
    double cap = -static_cast<double>(n.capacity);
    switch (s) {
      case Selector::kLowestLatency: return std::make_tuple(lat, bw, cap);
      case Selector::kHighestBandwidth: return std::make_tuple(bw, lat, cap);
      default: return std::make_tuple(cap, bw, lat);
    }
  };
  if (s == Selector::kNone) {
    out.why = "unknown selector";
    return out;
  }
  if (s == Selector::kHighestBandwidth && !all_hmat) {
    // Without bandwidth figures there is no honest answer; distance is the closest proxy.
    auto best = std::min_element(m.nodes.begin(), m.nodes.end(), [](const Node& a, const Node& b) {
      return std::tie(a.distance, a.id) < std::tie(b.distance, b.id);
    });
    for (const auto& n : m.nodes)
      if (n.distance == best->distance) out.nodes.push_back(n.id);
    out.why = "no bandwidth figures (no HMAT): nearest node(s) by NUMA distance";
    return out;
  }
  auto best = std::min_element(m.nodes.begin(), m.nodes.end(), [&](const Node& a, const Node& b) { return key(a) < key(b); });
  for (const auto& n : m.nodes)
    if (key(n) == key(*best)) out.nodes.push_back(n.id);
  char buf[200];
  const Node& b = *best;
  switch (s) {
    case Selector::kLowestLatency:
      if (all_hmat)
        std::snprintf(buf, sizeof buf, "lowest latency %.0f ns (%s)", b.latency(), b.source.c_str());
      else
        std::snprintf(buf, sizeof buf, "lowest NUMA distance %d (no HMAT latency figures)", b.distance);
      break;
    case Selector::kHighestBandwidth:
      std::snprintf(buf, sizeof buf, "highest bandwidth %.0f MB/s (%s)", b.bandwidth(), b.source.c_str());
      break;
    default:
      std::snprintf(buf, sizeof buf, "highest capacity %.1f GiB", b.capacity / 1073741824.0);
  }
  out.why = buf;
  return out;
}

}  // namespace tiermalloc::topo
