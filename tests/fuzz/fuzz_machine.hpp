// SPDX-License-Identifier: MIT
// tests/fuzz/fuzz_machine.hpp -- the machine both fuzz targets compile policies against:
// node 0 DRAM with the CPUs, node 1 slower and larger, node 2 the bandwidth node.
#pragma once
#include <vector>

#include "topology/topology.hpp"

namespace tiermalloc::fuzz {

inline topo::Machine machine() {
  topo::Machine m;
  m.initiators = {0};
  for (int id = 0; id < 3; ++id) {
    topo::Node n;
    n.id = id;
    n.has_cpus = id == 0;
    n.cpu_ids = id == 0 ? std::vector<int>{0, 1} : std::vector<int>{};
    n.capacity = (1ull << 30) << id;
    n.free = n.capacity / 2;
    n.read_lat = n.write_lat = 80 + 90 * id;
    n.read_bw = n.write_bw = id == 2 ? 160000 : 40000 / (id + 1);
    n.distance = id == 0 ? 10 : 20 + id;
    m.nodes.push_back(n);
  }
  topo::classify(&m);
  return m;
}

}  // namespace tiermalloc::fuzz
