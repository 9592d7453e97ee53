// SPDX-License-Identifier: MIT
// Every example policy in configs/ parses and compiles on a DRAM+CXL+HBM machine.
#include <gtest/gtest.h>

#include <filesystem>

#include "policy/compile.hpp"

using namespace tiermalloc;
using namespace tiermalloc::policy;

TEST(Configs, EveryExamplePolicyLoads) {
  topo::Machine m;
  m.initiators = {0};
  for (int id = 0; id < 4; ++id) {
    topo::Node n;
    n.id = id;
    n.capacity = 1ull << 30;
    n.distance = id == 0 ? 10 : 20 + id;
    n.read_lat = n.write_lat = 80 + 50 * id;
    n.read_bw = n.write_bw = id == 2 ? 160000 : 40000 / (id + 1);
    m.nodes.push_back(n);
  }
  int count = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::string(TM_SOURCE_DIR) + "/configs")) {
    if (e.path().extension() != ".yaml") continue;
    ++count;
    PolicySpec s;
    std::vector<Problem> ps;
    std::vector<std::string> notes;
    auto c = std::make_unique<CompiledPolicy>();
    EXPECT_TRUE(parse_policy_file(e.path(), &s, &ps)) << e.path() << ": " << (ps.empty() ? "" : ps[0].str());
    EXPECT_TRUE(compile_policy(s, m, c.get(), &ps, &notes)) << e.path() << ": " << (ps.empty() ? "" : ps[0].str());
    EXPECT_GE(c->ntiers, 2) << e.path();
  }
  EXPECT_GE(count, 1);
}
