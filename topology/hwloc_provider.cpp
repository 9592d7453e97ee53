// SPDX-License-Identifier: MIT
// topology/hwloc_provider.cpp -- the only file that includes <hwloc.h>.
// Fills a Machine from hwloc's NUMA nodes and memory attributes (hwloc >= 2.3 memattrs:
// Capacity, Read/Write Bandwidth and Latency, relative to an initiator cpuset), so the
// same selection code runs on this host and on XML fixtures of other machines.
#include "topology/hwloc_provider.hpp"

#include <hwloc.h>

#include <algorithm>
#include <vector>

namespace tiermalloc::topo {
namespace {

// The value of an attribute for a node, seen from the CPUs we may run on: among the
// initiators hwloc knows for it, those whose cpuset intersects ours; the best of them
// (highest for bandwidth and capacity, lowest for latency).
double memattr(hwloc_topology_t t, hwloc_memattr_id_t id, hwloc_obj_t node, hwloc_const_bitmap_t cpus) {
  unsigned long flags = 0;
  if (hwloc_memattr_get_flags(t, id, &flags) != 0) return 0;
  if (!(flags & HWLOC_MEMATTR_FLAG_NEED_INITIATOR)) {
    hwloc_uint64_t v = 0;
    return hwloc_memattr_get_value(t, id, node, nullptr, 0, &v) == 0 ? static_cast<double>(v) : 0;
  }
  unsigned nr = 0;
  if (hwloc_memattr_get_initiators(t, id, node, 0, &nr, nullptr, nullptr) != 0 || nr == 0) return 0;
  std::vector<hwloc_location> locs(nr);
  std::vector<hwloc_uint64_t> vals(nr);
  if (hwloc_memattr_get_initiators(t, id, node, 0, &nr, locs.data(), vals.data()) != 0) return 0;
  bool higher = flags & HWLOC_MEMATTR_FLAG_HIGHER_FIRST;
  double best = 0;
  for (unsigned i = 0; i < nr; ++i) {
    hwloc_const_bitmap_t ic = nullptr;
    if (locs[i].type == HWLOC_LOCATION_TYPE_CPUSET) ic = locs[i].location.cpuset;
    else if (locs[i].type == HWLOC_LOCATION_TYPE_OBJECT) ic = locs[i].location.object->cpuset;
    if (!ic || (cpus && !hwloc_bitmap_intersects(ic, cpus))) continue;
    double v = static_cast<double>(vals[i]);
    if (best == 0 || (higher ? v > best : v < best)) best = v;
  }
  return best;
}

}  // namespace

bool load_hwloc(Machine* out, const std::string& xml_path, std::string* error, const std::string& cpus_list) {
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
  if (!cpus_list.empty()) {
    if (hwloc_bitmap_list_sscanf(cpus, cpus_list.c_str()) != 0 || hwloc_bitmap_iszero(cpus)) {
      *error = "bad CPU list '" + cpus_list + "' (expected e.g. 0-3,8)";
      hwloc_bitmap_free(cpus);
      hwloc_topology_destroy(t);
      return false;
    }
  } else if (xml_path.empty()) {
    hwloc_get_cpubind(t, cpus, HWLOC_CPUBIND_PROCESS);
  }
  // Initiators: NUMA nodes that hold CPUs we may run on.  hwloc gives a CPU-less node the
  // cpuset of its locality, so on this host the kernel's has_cpu list decides; in an XML
  // fixture, the first node under each CPU-holding parent is the one with the CPUs.
  std::vector<int> cpu_nodes;
  if (xml_path.empty()) {
    Machine sys = load_sysfs();
    for (const auto& n : sys.nodes)
      if (n.has_cpus) cpu_nodes.push_back(n.id);
  }
  if (!xml_path.empty())
    for (hwloc_obj_t n = nullptr; (n = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_NUMANODE, n));)
      if (!hwloc_bitmap_iszero(n->cpuset) && n->parent && n->parent->memory_first_child == n)
        cpu_nodes.push_back(static_cast<int>(n->os_index));
  for (hwloc_obj_t n = nullptr; (n = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_NUMANODE, n));) {
    int id = static_cast<int>(n->os_index);
    if (hwloc_bitmap_intersects(n->cpuset, cpus) && std::find(cpu_nodes.begin(), cpu_nodes.end(), id) != cpu_nodes.end())
      m.initiators.push_back(id);
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
    node.has_cpus = std::find(cpu_nodes.begin(), cpu_nodes.end(), node.id) != cpu_nodes.end();
    node.capacity = n->attr->numanode.local_memory;
    node.read_bw = memattr(t, HWLOC_MEMATTR_ID_READ_BANDWIDTH, n, cpus);
    node.write_bw = memattr(t, HWLOC_MEMATTR_ID_WRITE_BANDWIDTH, n, cpus);
    node.read_lat = memattr(t, HWLOC_MEMATTR_ID_READ_LATENCY, n, cpus);
    node.write_lat = memattr(t, HWLOC_MEMATTR_ID_WRITE_LATENCY, n, cpus);
    if (node.read_bw == 0) node.read_bw = memattr(t, HWLOC_MEMATTR_ID_BANDWIDTH, n, cpus);
    if (node.read_lat == 0) node.read_lat = memattr(t, HWLOC_MEMATTR_ID_LATENCY, n, cpus);
    node.peak_bw = memattr(t, HWLOC_MEMATTR_ID_BANDWIDTH, n, nullptr);
    node.peak_lat = memattr(t, HWLOC_MEMATTR_ID_LATENCY, n, nullptr);
    node.source = (node.read_bw > 0 || node.read_lat > 0) ? "hwloc" : "distance";
    if (n->subtype) {
      node.kind = n->subtype;
      node.kind_source = std::string("hwloc subtype ") + n->subtype;
    }
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
  if (xml_path.empty()) {  // hwloc has no free-memory figure: the kernel's
    Machine sys = load_sysfs();
    for (auto& node : m.nodes)
      if (const Node* s = sys.find(node.id)) {
        node.free = s->free;
        if (node.kind.empty() && s->kind == "pmem") {
          node.kind = "pmem";
          node.kind_source = s->kind_source;
        }
      }
  }
  classify(&m);
  hwloc_bitmap_free(cpus);
  hwloc_topology_destroy(t);
  *out = std::move(m);
  return true;
}

}  // namespace tiermalloc::topo
