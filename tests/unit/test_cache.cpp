// SPDX-License-Identifier: MIT
// The compiled-policy cache (policy/cache.hpp): written on a miss, read back on a hit with the
// same result byte for byte, never used when the policy, the settings or the machine differ,
// a damaged or foreign file, or a directory open to others; bind budgets follow the free
// memory of the moment; transient tiers are never cached.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "policy/cache.hpp"
#include "policy/load.hpp"

using namespace tiermalloc;
using namespace tiermalloc::policy;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/tm-cache-test.XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

void write(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
}

// A two-node machine in sysfs form: node 0 DRAM with CPUs 0-1, node 1 memory only.
void make_sysfs(const std::string& root, unsigned long free1_kb) {
  mkdir(root.c_str(), 0755);
  write(root + "/has_memory", "0-1\n");
  write(root + "/has_cpu", "0\n");
  for (int n = 0; n < 2; ++n) {
    std::string d = root + "/node" + std::to_string(n);
    mkdir(d.c_str(), 0755);
    write(d + "/cpulist", n == 0 ? "0-1\n" : "\n");
    write(d + "/distance", n == 0 ? "10 20\n" : "20 10\n");
    write(d + "/meminfo", "Node " + std::to_string(n) + " MemTotal:       4194304 kB\nNode " + std::to_string(n) +
                              " MemFree:        " + std::to_string(n == 0 ? 3000000ul : free1_kb) + " kB\n");
  }
}

const char* kPolicy =
    "version: 1\n"
    "tiers:\n"
    "  near: { select: lowest_latency }\n"
    "  far:  { nodes: [1], mode: bind }\n"
    "default: near\n"
    "fallback: [near]\n"
    "rules:\n"
    "  - name: big\n"
    "    match: { size: \">= 1MiB\" }\n"
    "    tier: far\n";

struct Env {
  TempDir dir;
  std::string policy, sysfs, cache;
  Env() : policy(dir.path + "/p.yaml"), sysfs(dir.path + "/sys"), cache(dir.path + "/cache") {
    write(policy, kPolicy);
    make_sysfs(sysfs, 2000000);
  }
  Settings settings() const {
    Settings s;
    s.policy_path = policy;
    s.program = "/usr/bin/prog";
    s.sysfs_root = sysfs;
    s.cache_dir = cache;
    return s;
  }
};

LoadResult load(const Settings& s, CompiledPolicy* c, LoadInfo* info, std::vector<std::string>* notes = nullptr) {
  std::vector<std::string> errors, n;
  LoadResult r = load_policy(s, c, &errors, notes ? notes : &n, info);
  EXPECT_TRUE(errors.empty()) << errors[0];
  return r;
}

int tier_named(const CompiledPolicy& c, const char* name) {
  for (int i = 0; i < c.ntiers; ++i)
    if (std::strcmp(c.tiers[i].name, name) == 0) return i;
  return -1;
}

}  // namespace

TEST(PolicyCache, MissWritesHitReadsTheSameBytes) {
  Env e;
  static CompiledPolicy a, b;
  LoadInfo i1, i2;
  ASSERT_EQ(load(e.settings(), &a, &i1), LoadResult::kLoaded);
  EXPECT_FALSE(i1.from_cache);
  EXPECT_TRUE(i1.cached);
  ASSERT_EQ(load(e.settings(), &b, &i2), LoadResult::kLoaded);
  EXPECT_TRUE(i2.from_cache);
  EXPECT_EQ(i2.cache_file.rfind(e.cache + "/", 0), 0u) << i2.cache_file;
  EXPECT_EQ(std::memcmp(&a, &b, sizeof a), 0);
  int far = tier_named(b, "far");
  ASSERT_GT(far, 0);
  EXPECT_TRUE(b.tiers[far].nodes.test(1));
  EXPECT_EQ(b.tiers[far].bind_budget, 2000000ull * 1024);
  struct stat st {};
  ASSERT_EQ(stat(e.cache.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat(i2.cache_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(PolicyCache, BindBudgetFollowsFreeMemory) {
  Env e;
  static CompiledPolicy a, b;
  LoadInfo i1, i2;
  ASSERT_EQ(load(e.settings(), &a, &i1), LoadResult::kLoaded);
  make_sysfs(e.sysfs, 1234567);  // only free memory changed: still the same key
  ASSERT_EQ(load(e.settings(), &b, &i2), LoadResult::kLoaded);
  EXPECT_TRUE(i2.from_cache);
  EXPECT_EQ(b.tiers[tier_named(b, "far")].bind_budget, 1234567ull * 1024);
}

TEST(PolicyCache, OtherInputsMiss) {
  Env e;
  static CompiledPolicy a, b;
  LoadInfo i1, i2, i3, i4;
  ASSERT_EQ(load(e.settings(), &a, &i1), LoadResult::kLoaded);
  // The policy's text.
  write(e.policy, std::string(kPolicy) + "  - name: small\n    match: { size: \"< 16\" }\n    tier: far\n");
  ASSERT_EQ(load(e.settings(), &b, &i2), LoadResult::kLoaded);
  EXPECT_FALSE(i2.from_cache);
  EXPECT_EQ(b.nrules, a.nrules + 1);
  // A setting.
  Settings s = e.settings();
  s.overrides.default_tier = "far";
  ASSERT_EQ(load(s, &b, &i3), LoadResult::kLoaded);
  EXPECT_FALSE(i3.from_cache);
  EXPECT_EQ(b.plan.default_tier, tier_named(b, "far"));
  // The machine (capacity).
  write(e.sysfs + "/node1/meminfo", "Node 1 MemTotal:       8388608 kB\nNode 1 MemFree:        2000000 kB\n");
  ASSERT_EQ(load(e.settings(), &b, &i4), LoadResult::kLoaded);
  EXPECT_FALSE(i4.from_cache);
}

TEST(PolicyCache, DamagedFileIsIgnoredAndRewritten) {
  Env e;
  static CompiledPolicy a, b;
  LoadInfo i1, i2, i3;
  ASSERT_EQ(load(e.settings(), &a, &i1), LoadResult::kLoaded);
  ASSERT_EQ(load(e.settings(), &b, &i2), LoadResult::kLoaded);
  ASSERT_TRUE(i2.from_cache);
  ASSERT_EQ(truncate(i2.cache_file.c_str(), 1000), 0);
  ASSERT_EQ(load(e.settings(), &b, &i3), LoadResult::kLoaded);
  EXPECT_FALSE(i3.from_cache);
  EXPECT_TRUE(i3.cached);
  EXPECT_EQ(std::memcmp(&a, &b, sizeof a), 0);
  // A file open to others is not read.
  LoadInfo i4, i5;
  ASSERT_EQ(load(e.settings(), &b, &i4), LoadResult::kLoaded);
  ASSERT_TRUE(i4.from_cache);
  ASSERT_EQ(chmod(i4.cache_file.c_str(), 0644), 0);
  ASSERT_EQ(load(e.settings(), &b, &i5), LoadResult::kLoaded);
  EXPECT_FALSE(i5.from_cache);
}

TEST(PolicyCache, DirectoryOpenToOthersIsNotUsed) {
  Env e;
  ASSERT_EQ(mkdir(e.cache.c_str(), 0777), 0);
  ASSERT_EQ(chmod(e.cache.c_str(), 0777), 0);
  static CompiledPolicy a;
  LoadInfo i1, i2;
  ASSERT_EQ(load(e.settings(), &a, &i1), LoadResult::kLoaded);
  EXPECT_FALSE(i1.cached);
  ASSERT_EQ(load(e.settings(), &a, &i2), LoadResult::kLoaded);
  EXPECT_FALSE(i2.from_cache);
}

TEST(PolicyCache, TransientTiersAreNotCached) {
  Env e;
  write(e.policy, "version: 1\ntiers:\n  near: { select: lowest_latency }\n"
                  "  scratch: { transient: { path: " + e.dir.path + " } }\n"
                  "default: near\nrules:\n  - name: big\n    match: { size: \">= 1MiB\" }\n    tier: scratch\n");
  static CompiledPolicy a;
  LoadInfo i1, i2;
  ASSERT_EQ(load(e.settings(), &a, &i1), LoadResult::kLoaded);
  EXPECT_FALSE(i1.cached);
  ASSERT_EQ(load(e.settings(), &a, &i2), LoadResult::kLoaded);
  EXPECT_FALSE(i2.from_cache);
}

TEST(PolicyCache, DefaultDirectory) {
  EXPECT_EQ(default_cache_dir("0", "/x", "/run/user/1"), "");
  EXPECT_EQ(default_cache_dir(nullptr, "/x", "/run/user/1"), "/x");
  EXPECT_EQ(default_cache_dir(nullptr, nullptr, "/run/user/1"), "/run/user/1/tiermalloc");
  EXPECT_EQ(default_cache_dir(nullptr, "", nullptr), "/tmp/tiermalloc-" + std::to_string(geteuid()));
}

TEST(PolicyCache, ProgramsIsDecidedPerProcess) {
  // One cache file serves every program; `programs:` still decides per process.
  Env e;
  write(e.policy, std::string(kPolicy) + "programs: [\"prog\"]\n");
  static CompiledPolicy a, b;
  LoadInfo i1, i2, i3;
  ASSERT_EQ(load(e.settings(), &a, &i1), LoadResult::kLoaded);
  EXPECT_TRUE(i1.cached);
  Settings other = e.settings();
  other.program = "/usr/bin/other";
  std::vector<std::string> notes;
  ASSERT_EQ(load(other, &b, &i2, &notes), LoadResult::kPlain);
  EXPECT_TRUE(i2.from_cache);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("does not apply to 'other' (programs:)"), std::string::npos) << notes[0];
  EXPECT_EQ(b.ntiers, 1);
  ASSERT_EQ(load(e.settings(), &b, &i3), LoadResult::kLoaded);
  EXPECT_TRUE(i3.from_cache);
  EXPECT_EQ(std::memcmp(&a, &b, sizeof a), 0);
}

// A hit reads the policy into place touching only the pages that hold data (the preload
// library's copy is in .bss: untouched pages are not resident).  Read into fresh anonymous
// memory, counted from /proc/self/smaps: the two-tier, one-rule policy needs a fraction of the pages,
// and the result equals the policy compiled in this process.
TEST(PolicyCache, HitTouchesOnlyPagesWithData) {
  Env e;
  static CompiledPolicy a;
  LoadInfo i1, i2;
  ASSERT_EQ(load(e.settings(), &a, &i1), LoadResult::kLoaded);
  ASSERT_TRUE(i1.cached);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t len = (sizeof(CompiledPolicy) + page - 1) / page * page;
  // Between two PROT_NONE pages: a mapping of its own in smaps, never merged with a neighbour.
  void* r = mmap(nullptr, len + 2 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(r, MAP_FAILED);
  void* m = static_cast<char*>(r) + page;
  ASSERT_EQ(mprotect(m, len, PROT_READ | PROT_WRITE), 0);
  auto* b = static_cast<CompiledPolicy*>(m);
  ASSERT_EQ(load(e.settings(), b, &i2), LoadResult::kLoaded);
  ASSERT_TRUE(i2.from_cache);
  EXPECT_EQ(std::memcmp(&a, b, sizeof a), 0);
  // Resident as smaps counts it (mincore would count pages only read, which map the shared
  // zero page and cost nothing).
  char start[32];
  std::snprintf(start, sizeof start, "%lx-", reinterpret_cast<unsigned long>(m));
  FILE* f = std::fopen("/proc/self/smaps", "r");
  ASSERT_NE(f, nullptr);
  char line[512];
  long rss_kb = -1;
  bool in = false;
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, start, std::strlen(start)) == 0) in = true;
    else if (in && std::sscanf(line, "Rss: %ld kB", &rss_kb) == 1) break;
  }
  std::fclose(f);
  const long total_kb = static_cast<long>(len / 1024);
  // A copy of every page would make all of it resident (checked: 140 of 140 KiB); the unused
  // rule and tier slots stay untouched.
  EXPECT_GT(rss_kb, 0) << "no Rss line for the mapping at " << start;
  EXPECT_LE(rss_kb, total_kb / 3) << rss_kb << " of " << total_kb << " KiB resident";
  munmap(r, len + 2 * page);
}
