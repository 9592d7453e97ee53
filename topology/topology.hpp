// SPDX-License-Identifier: MIT
// topology/topology.hpp -- the machine as tiermalloc sees it: NUMA nodes and their properties.
//
// Two providers fill a Machine: sysfs (used by the preload library: no dependency, a few
// file reads) and hwloc (topology/hwloc_provider.cpp, used by the command-line tool and the
// tests, which can also load hwloc XML fixtures).  Selection by property lives in select.cpp.
// Nothing here is on an allocation hot path; everything here may allocate.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "policy/compiled.hpp"

namespace tiermalloc::topo {

struct Node {
  int id = -1;
  bool has_cpus = false;         // holds CPUs (not necessarily ours)
  std::string cpus;              // cpulist, e.g. "0-3"
  uint64_t capacity = 0;         // bytes (MemTotal)
  uint64_t free = 0;             // bytes (MemFree)
  // Figures from the initiator closest to this process's CPUs; 0 = unknown.
  double read_bw = 0, write_bw = 0;    // MB/s
  double read_lat = 0, write_lat = 0;  // ns
  double peak_bw = 0, peak_lat = 0;    // best figures from any initiator (the memory's own speed)
  int distance = 0;              // SLIT distance from the nearest initiator node
  std::string source;            // where bandwidth/latency come from: "sysfs-hmat", "hwloc", "distance"
  std::string kind;              // "dram", "hbm", "cxl", "pmem" (classify() fills it in)
  std::string kind_source;       // why: "hwloc subtype NVM", "dax kmem", "cpus", "hmat", "distance"
  std::vector<int> cpu_ids;      // the CPUs it holds
  std::vector<int> hmat_initiators;  // nodes the HMAT figures are relative to (empty: any)
  std::vector<int> dist_row;     // SLIT distance to every node, by node id
  double bandwidth() const { return read_bw > 0 && write_bw > 0 ? (read_bw + write_bw) / 2 : read_bw; }
  double latency() const { return read_lat > 0 && write_lat > 0 ? (read_lat + write_lat) / 2 : read_lat; }
};

struct Machine {
  std::vector<Node> nodes;       // memory nodes, by id
  std::vector<int> initiators;   // nodes holding the CPUs this process may run on
  std::string provider;          // "sysfs", "hwloc", "hwloc-xml"
  const Node* find(int id) const {
    for (const auto& n : nodes) if (n.id == id) return &n;
    return nullptr;
  }
  /** The node holding a CPU, or -1. */
  int node_of_cpu(int cpu) const {
    for (const auto& n : nodes)
      for (int c : n.cpu_ids) if (c == cpu) return n.id;
    return -1;
  }
  /**
   * The machine as one initiator node sees it: distances from it; where HMAT has figures
   * relative to this initiator, only the nodes those figures cover (the others are not local
   * to it); where it has none, figures are dropped and distance decides.
   */
  Machine view_from(int initiator) const;
};

/** Reads /sys/devices/system/node (HMAT access classes, meminfo, distance) and dax kmem
 *  devices, then classify(). May allocate. */
Machine load_sysfs(const std::string& root = "/sys/devices/system/node");

/**
 * Gives every node a kind.  Evidence, strongest first: a kind already known (hwloc subtype,
 * dax kmem device) -> as is; CPUs -> dram; a memory-only node with HMAT figures -> hbm when
 * its bandwidth is at least 1.5x the best CPU-local node's, cxl when its latency is at least
 * 1.5x (or its bandwidth at most half), else dram; without figures, a memory-only node
 * farther than the local ones -> cxl.
 */
void classify(Machine* m);

enum class Selector { kNone, kLowestLatency, kHighestBandwidth, kHighestCapacity, kHbw };
Selector parse_selector(const std::string& s);
const char* selector_name(Selector s);
inline constexpr const char* kSelectorNames = "highest_bandwidth, lowest_latency, highest_capacity, hbw";
inline constexpr const char* kKindNames = "dram, hbm, cxl, pmem";
bool valid_kind(const std::string& k);

struct Selection {
  std::vector<int> nodes;        // the best node(s); several when they tie on every property
  std::string why;               // one line a person can read
};

/** Picks the node(s) a selector means on this machine. Never throws; empty when nothing fits.
 *  hbw_threshold (MB/s, read bandwidth) is for Selector::kHbw; 0 = 1.5x the best CPU-local node. */
Selection select_nodes(const Machine& m, Selector s, double hbw_threshold = 0);
/** Every node of a kind (dram, hbm, cxl, pmem). */
Selection select_kind(const Machine& m, const std::string& kind);

}  // namespace tiermalloc::topo
