// SPDX-License-Identifier: MIT
// topology/hwloc_provider.cpp -- the only file that includes <hwloc.h>.
// Fills a Machine from hwloc's NUMA nodes and memory attributes (hwloc >= 2.3 memattrs:
// Capacity, Read/Write Bandwidth and Latency, relative to an initiator cpuset), so the
// same selection code runs on this host and on XML fixtures of other machines.
#include "topology/hwloc_provider.hpp"

#include <hwloc.h>

#include <algorithm>

namespace tiermalloc::topo {
namespace {

double memattr(hwloc_topology_t t, hwloc_memattr_id_t id, hwloc_obj_t node, hwloc_bitmap_t cpus) {
  hwloc_location loc;
  loc.type = HWLOC_LOCATION_TYPE_CPUSET;
  loc.location.cpuset = cpus;
  hwloc_uint64_t v = 0;
  if (hwloc_memattr_get_value(t, id, node, &loc, 0, &v) == 0) return static_cast<double>(v);
  return 0;
}

}  // namespace

bool load_hwloc(Machine* out, const std::string& xml_path, std::string* error) {
  hwloc_topology_t t;
  if (hwloc_topology_init(&t) != 0) {
    *error = "hwloc_topology_init failed";
    return false;
  }
  if (!xml_path.empty() && hwloc_topology_set_xml(t, xml_path.c_str()) != 0) {
    *error = "cannot read hwloc XML '" + xml_path + "'";
    hwloc_topology_destroy(t);
    return false;
  }
  hwloc_topology_set_flags(t, HWLOC_TOPOLOGY_FLAG_IMPORT_SUPPORT);
  if (hwloc_topology_load(t) != 0) {
    *error = "hwloc_topology_load failed";
    hwloc_topology_destroy(t);
    return false;
  }
  Machine m;
  m.provider = xml_path.empty() ? "hwloc" : "hwloc-xml";
  hwloc_bitmap_t cpus = hwloc_bitmap_dup(hwloc_topology_get_topology_cpuset(t));
  if (xml_path.empty()) hwloc_get_cpubind(t, cpus, HWLOC_CPUBIND_PROCESS);
  // Initiators: NUMA nodes that hold CPUs we may run on.  hwloc gives a CPU-less node the
  // cpuset of its locality, so on this host the kernel's has_cpu list decides; in an XML
  // fixture, the first node under each CPU-holding parent is the one with the CPUs.
  std::vector<int> cpu_nodes;
  if (xml_path.empty()) {
    Machine sys = load_sysfs();
    cpu_nodes = sys.initiators;
  }
  for (hwloc_obj_t n = nullptr; (n = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_NUMANODE, n));) {
    if (hwloc_bitmap_iszero(n->cpuset) || !hwloc_bitmap_intersects(n->cpuset, cpus)) continue;
    int id = static_cast<int>(n->os_index);
    bool has = xml_path.empty() ? std::find(cpu_nodes.begin(), cpu_nodes.end(), id) != cpu_nodes.end()
                                : (n->parent && n->parent->memory_first_child == n);
    if (has) m.initiators.push_back(id);
  }

  for (hwloc_obj_t n = nullptr; (n = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_NUMANODE, n));) {
    Node node;
    node.id = static_cast<int>(n->os_index);
    // A CPU-less node's cpuset is its locality (its parent's CPUs); only real CPUs count.
    if (!hwloc_bitmap_iszero(n->cpuset)) {
      char* s = nullptr;
      hwloc_bitmap_list_asprintf(&s, n->cpuset);
      if (s) { node.cpus = s; free(s); }
    }
    node.has_cpus = std::find(m.initiators.begin(), m.initiators.end(), node.id) != m.initiators.end();
    node.capacity = n->attr->numanode.local_memory;
    node.read_bw = memattr(t, HWLOC_MEMATTR_ID_READ_BANDWIDTH, n, cpus);
    node.write_bw = memattr(t, HWLOC_MEMATTR_ID_WRITE_BANDWIDTH, n, cpus);
    node.read_lat = memattr(t, HWLOC_MEMATTR_ID_READ_LATENCY, n, cpus);
    node.write_lat = memattr(t, HWLOC_MEMATTR_ID_WRITE_LATENCY, n, cpus);
    if (node.read_bw == 0) node.read_bw = memattr(t, HWLOC_MEMATTR_ID_BANDWIDTH, n, cpus);
    if (node.read_lat == 0) node.read_lat = memattr(t, HWLOC_MEMATTR_ID_LATENCY, n, cpus);
    node.source = (node.read_bw > 0 || node.read_lat > 0) ? "hwloc" : "distance";
    if (n->subtype) node.kind = n->subtype;
    m.nodes.push_back(node);
  }
  // SLIT distances relative to the nearest initiator.
  struct hwloc_distances_s* dist[1];
  unsigned nr = 1;
  if (hwloc_distances_get_by_type(t, HWLOC_OBJ_NUMANODE, &nr, dist, HWLOC_DISTANCES_KIND_MEANS_LATENCY, 0) == 0 && nr > 0) {
    for (auto& node : m.nodes) {
      int best = 0;
      for (unsigned i = 0; i < dist[0]->nbobjs; ++i) {
        if (static_cast<int>(dist[0]->objs[i]->os_index) != node.id) continue;
        for (unsigned j = 0; j < dist[0]->nbobjs; ++j) {
          int ini = static_cast<int>(dist[0]->objs[j]->os_index);
          if (std::find(m.initiators.begin(), m.initiators.end(), ini) == m.initiators.end()) continue;
          int d = static_cast<int>(dist[0]->values[j * dist[0]->nbobjs + i]);
          if (best == 0 || d < best) best = d;
        }
      }
      node.distance = best;
    }
    hwloc_distances_release(t, dist[0]);
  }
  for (auto& node : m.nodes)
    if (node.distance == 0) node.distance = std::find(m.initiators.begin(), m.initiators.end(), node.id) != m.initiators.end() ? 10 : 20;
  hwloc_bitmap_free(cpus);
  hwloc_topology_destroy(t);
  *out = std::move(m);
  return true;
}

}  // namespace tiermalloc::topo
