// SPDX-License-Identifier: MIT
// Property selection on real and synthetic machines, loaded from hwloc XML (tests/topology/):
// what every selector and every kind picks, seen from the given CPUs.
#include <gtest/gtest.h>

#include "topology/hwloc_provider.hpp"
#include "topology/topology.hpp"

using namespace tiermalloc::topo;

namespace {

struct Expect {
  const char* file;
  const char* cpus;  // "" = every CPU of the fixture
  std::vector<int> bandwidth, latency, capacity, hbw, dram, hbm, cxl, pmem;
};

Machine load(const char* file, const char* cpus) {
  Machine m;
  std::string err;
  EXPECT_TRUE(load_hwloc(&m, std::string(TM_SOURCE_DIR) + "/tests/topology/" + file, &err, cpus)) << err;
  return m;
}

}  // namespace

class Fixture : public ::testing::TestWithParam<Expect> {};

TEST_P(Fixture, SelectorsAndKinds) {
  const Expect& e = GetParam();
  Machine m = load(e.file, e.cpus);
  ASSERT_FALSE(m.nodes.empty());
  EXPECT_EQ(select_nodes(m, Selector::kHighestBandwidth).nodes, e.bandwidth) << select_nodes(m, Selector::kHighestBandwidth).why;
  EXPECT_EQ(select_nodes(m, Selector::kLowestLatency).nodes, e.latency) << select_nodes(m, Selector::kLowestLatency).why;
  EXPECT_EQ(select_nodes(m, Selector::kHighestCapacity).nodes, e.capacity) << select_nodes(m, Selector::kHighestCapacity).why;
  EXPECT_EQ(select_nodes(m, Selector::kHbw).nodes, e.hbw) << select_nodes(m, Selector::kHbw).why;
  EXPECT_EQ(select_kind(m, "dram").nodes, e.dram);
  EXPECT_EQ(select_kind(m, "hbm").nodes, e.hbm);
  EXPECT_EQ(select_kind(m, "cxl").nodes, e.cxl);
  EXPECT_EQ(select_kind(m, "pmem").nodes, e.pmem);
}

using V = std::vector<int>;
INSTANTIATE_TEST_SUITE_P(
    Topologies, Fixture,
    ::testing::Values(
        // file, cpus, highest_bandwidth, lowest_latency, highest_capacity, hbw, dram, hbm, cxl, pmem
        Expect{"dram-hbm.xml", "", V{1}, V{0}, V{0}, V{1}, V{0}, V{1}, V{}, V{}},
        Expect{"dram-cxl.xml", "", V{0}, V{0}, V{1}, V{}, V{0}, V{}, V{1}, V{}},
        Expect{"dram-pmem.xml", "", V{0}, V{0}, V{1}, V{}, V{0}, V{}, V{}, V{1}},
        // Seen from each socket, its own HBM and DRAM; from both, the equal pairs form one tier.
        Expect{"two-socket-dram-hbm.xml", "0-1", V{2}, V{0}, V{0}, V{2}, V{0, 1}, V{2, 3}, V{}, V{}},
        Expect{"two-socket-dram-hbm.xml", "2-3", V{3}, V{1}, V{1}, V{3}, V{0, 1}, V{2, 3}, V{}, V{}},
        Expect{"two-socket-dram-hbm.xml", "", V{2, 3}, V{0, 1}, V{0, 1}, V{2, 3}, V{0, 1}, V{2, 3}, V{}, V{}},
        // No HMAT: distance for latency (and bandwidth, said so), capacity as is, no hbw answer.
        Expect{"no-hmat.xml", "", V{0}, V{0}, V{1}, V{}, V{0}, V{}, V{1}, V{}},
        // Nodes 1 and 2 are equal in everything: one tier.  All three tie on capacity: the
        // tie breaks by bandwidth.
        Expect{"ties.xml", "", V{1, 2}, V{0}, V{1, 2}, V{1, 2}, V{0}, V{1, 2}, V{}, V{}},
        // Real exports from scripts/hmat-vm (the default guest, and --pmem-mode kmem).
        Expect{"guest-dram-cxl-hbm.xml", "", V{2}, V{0}, V{1}, V{2}, V{0}, V{2}, V{1}, V{}},
        Expect{"guest-kmem-pmem.xml", "", V{2}, V{0}, V{1}, V{2}, V{0}, V{2}, V{1}, V{3}}));

TEST(FixtureFigures, GuestHmatFiguresAsTheFirmwareDeclares) {
  Machine m = load("guest-kmem-pmem.xml", "");
  const Node* hbm = m.find(2);
  ASSERT_NE(hbm, nullptr);
  EXPECT_EQ(hbm->read_bw, 163840);
  EXPECT_EQ(hbm->write_bw, 122880);
  EXPECT_EQ(hbm->read_lat, 100);
  EXPECT_EQ(hbm->write_lat, 110);
  EXPECT_EQ(m.find(3)->kind_source, "hwloc subtype NVM");
  EXPECT_EQ(m.find(1)->distance, 24);
}

TEST(FixtureFigures, HbwThresholdIsExplicitWhenGiven) {
  Machine m = load("guest-dram-cxl-hbm.xml", "");
  EXPECT_EQ(select_nodes(m, Selector::kHbw, 200000).nodes, V{});
  EXPECT_EQ(select_nodes(m, Selector::kHbw, 100000).nodes, V{2});
  EXPECT_EQ(select_nodes(m, Selector::kHbw, 10000).nodes, (V{0, 1, 2}));
  EXPECT_NE(select_nodes(m, Selector::kHbw, 200000).why.find("no node with read bandwidth >= 200000"), std::string::npos);
}

TEST(FixtureFigures, BadCpuListIsAnError) {
  Machine m;
  std::string err;
  EXPECT_FALSE(load_hwloc(&m, std::string(TM_SOURCE_DIR) + "/tests/topology/dram-hbm.xml", &err, "zz"));
  EXPECT_NE(err.find("bad CPU list"), std::string::npos);
  EXPECT_FALSE(load_hwloc(&m, "/nonexistent.xml", &err));
}
