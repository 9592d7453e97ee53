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

Selector parse_selector(const std::string& s) {
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
    default: return "none";
  }
}

Selection select_nodes(const Machine& m, Selector s) {
  Selection out;
  if (m.nodes.empty()) {
    out.why = "no memory nodes found";
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
