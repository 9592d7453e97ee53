// SPDX-License-Identifier: MIT
// Property selection on machines described in code, and on this host through hwloc and sysfs.
#include <gtest/gtest.h>

#include "topology/hwloc_provider.hpp"
#include "topology/topology.hpp"

using namespace tiermalloc::topo;

namespace {

Node node(int id, uint64_t gib, double rlat, double rbw, int dist) {
  Node n;
  n.id = id;
  n.capacity = gib << 30;
  n.read_lat = n.write_lat = rlat;
  n.read_bw = n.write_bw = rbw;
  n.distance = dist;
  n.source = rlat > 0 ? "hmat" : "distance";
  return n;
}

Machine hmat_vm() {  // the emulated guest: DRAM, CXL, HBM
  Machine m;
  m.initiators = {0};
  m.nodes = {node(0, 1, 85, 35000, 10), node(1, 1, 275, 9000, 24), node(2, 0, 105, 140000, 13)};
  m.nodes[2].capacity = 512ull << 20;
  return m;
}

}  // namespace

TEST(Select, HmatMachine) {
  Machine m = hmat_vm();
  EXPECT_EQ(select_nodes(m, Selector::kLowestLatency).nodes, std::vector<int>{0});
  EXPECT_EQ(select_nodes(m, Selector::kHighestBandwidth).nodes, std::vector<int>{2});
  // node 0 and 1 have the same capacity: the tie breaks by bandwidth, so node 0.
  EXPECT_EQ(select_nodes(m, Selector::kHighestCapacity).nodes, std::vector<int>{0});
  m.nodes[1].capacity = 4ull << 30;
  EXPECT_EQ(select_nodes(m, Selector::kHighestCapacity).nodes, std::vector<int>{1});
}

TEST(Select, EqualNodesFormOneTier) {
  Machine m;
  m.initiators = {0, 1};
  m.nodes = {node(0, 8, 80, 40000, 10), node(1, 8, 80, 40000, 10)};
  EXPECT_EQ(select_nodes(m, Selector::kLowestLatency).nodes, (std::vector<int>{0, 1}));
}

TEST(Select, WithoutHmatUsesDistanceAndSaysSo) {
  Machine m;
  m.initiators = {0};
  m.nodes = {node(0, 8, 0, 0, 10), node(1, 32, 0, 0, 21)};
  auto lat = select_nodes(m, Selector::kLowestLatency);
  EXPECT_EQ(lat.nodes, std::vector<int>{0});
  EXPECT_NE(lat.why.find("no HMAT"), std::string::npos) << lat.why;
  auto bw = select_nodes(m, Selector::kHighestBandwidth);
  EXPECT_EQ(bw.nodes, std::vector<int>{0});
  EXPECT_NE(bw.why.find("no bandwidth figures"), std::string::npos) << bw.why;
  EXPECT_EQ(select_nodes(m, Selector::kHighestCapacity).nodes, std::vector<int>{1});
}

TEST(Select, NamesRoundTrip) {
  for (auto s : {Selector::kLowestLatency, Selector::kHighestBandwidth, Selector::kHighestCapacity})
    EXPECT_EQ(parse_selector(selector_name(s)), s);
  EXPECT_EQ(parse_selector("fastest"), Selector::kNone);
  EXPECT_TRUE(select_nodes(Machine{}, Selector::kLowestLatency).nodes.empty());
}

TEST(Select, ThisHostHwlocAndSysfsAgreeOnNodes) {
  Machine sys = load_sysfs();
  Machine hw;
  std::string err;
  ASSERT_TRUE(load_hwloc(&hw, "", &err)) << err;
  ASSERT_FALSE(sys.nodes.empty());
  ASSERT_EQ(sys.nodes.size(), hw.nodes.size());
  for (size_t i = 0; i < sys.nodes.size(); ++i) EXPECT_EQ(sys.nodes[i].id, hw.nodes[i].id);
  EXPECT_EQ(sys.initiators, hw.initiators);
  EXPECT_GT(sys.nodes[0].capacity, 0u);
}
