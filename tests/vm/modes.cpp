// SPDX-License-Identifier: MIT
// tests/vm/modes.cpp -- the tier modes, page by page, in the hmat-vm guest.
//
//   LD_PRELOAD=libtiermalloc.so TIERMALLOC_POLICY=p.yaml modes CHECK
//
// CHECK is one of
//   interleave      policies/interleave.yaml: tier `spread` (nodes 0,1, interleave) takes
//                   >= 1 MiB.  64 MiB by malloc and 32 MiB by calloc: each block's pages,
//                   and all of them together, split between nodes 0 and 1 (each holds
//                   35%..65%), no page anywhere else; small blocks on node 0 (tier near).
//   preferred-many  policies/preferred-many.yaml: tier `pair` (nodes 1,2, preferred, i.e.
//                   MPOL_PREFERRED_MANY) takes >= 1 MiB.  640 MiB in 8 MiB blocks -- more
//                   than node 2 (512 MiB) holds -- every page on node 1 or 2, none on 0,
//                   both nodes used; small blocks on node 0.
//   spill           policies/preferred-spill.yaml: tier `hbm` (node 2, preferred) takes
//                   >= 1 MiB.  704 MiB in 8 MiB blocks: every allocation succeeds, the
//                   first blocks fill node 2, then the kernel spills the rest to other nodes;
//                   every byte is verified at the end.
//
// Each large block's memory policy is read back with get_mempolicy(MPOL_F_ADDR) and must be
// the tier's mode on the tier's nodes; tiermalloc_tier_of() must name the tier.  Pages are
// located with move_pages(0, n, pages, NULL, status, 0).  No libnuma: raw system calls.
// Exit 0 = as expected, 1 = a mismatch, 2 = usage or allocation failure.
#include <dlfcn.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace {

constexpr size_t KiB = 1024, MiB = 1024 * KiB;
const size_t kPage = static_cast<size_t>(sysconf(_SC_PAGESIZE));

// <linux/mempolicy.h> values, spelled out: MPOL_PREFERRED_MANY is missing from older headers.
constexpr int kMpolDefault = 0, kMpolPreferred = 1, kMpolBind = 2, kMpolInterleave = 3, kMpolLocal = 4,
              kMpolPreferredMany = 5;
constexpr unsigned long kMpolFAddr = 1u << 1;

using TierOf = int (*)(const void*);
using TierName = const char* (*)(int);
TierOf g_tier_of;
TierName g_tier_name;
int g_bad = 0;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "modes: %s failed (errno %d: %s)\n", what, errno, std::strerror(errno));
  std::exit(2);
}

__attribute__((format(printf, 1, 2))) void mismatch(const char* fmt, ...) {
  std::printf("MISMATCH ");
  va_list ap;
  va_start(ap, fmt);
  std::vprintf(fmt, ap);
  va_end(ap);
  std::printf("\n");
  g_bad++;
}

std::string tier_of(const void* p) {
  if (!g_tier_of || !g_tier_name) return "(not preloaded)";
  const char* n = g_tier_name(g_tier_of(p));
  return n ? n : "(null)";
}

using Counts = std::map<int, size_t>;  // node id (or -errno) -> pages

/** Where the kernel holds each page of [p, p + size). */
Counts where(const void* p, size_t size) {
  uintptr_t first = reinterpret_cast<uintptr_t>(p) & ~(kPage - 1);
  uintptr_t last = (reinterpret_cast<uintptr_t>(p) + size - 1) & ~(kPage - 1);
  size_t n = (last - first) / kPage + 1;
  std::vector<void*> pages(n);
  std::vector<int> status(n, -999);
  for (size_t i = 0; i < n; ++i) pages[i] = reinterpret_cast<void*>(first + i * kPage);
  if (syscall(SYS_move_pages, 0, n, pages.data(), nullptr, status.data(), 0) != 0) die("move_pages");
  Counts c;
  for (int s : status) c[s]++;
  return c;
}

void add(Counts& into, const Counts& c) {
  for (auto& [k, v] : c) into[k] += v;
}

size_t total(const Counts& c) {
  size_t t = 0;
  for (auto& [k, v] : c) t += v;
  return t;
}

size_t on(const Counts& c, int node) {
  auto it = c.find(node);
  return it == c.end() ? 0 : it->second;
}

std::string show(const Counts& c) {
  std::string s;
  for (auto& [k, v] : c) {
    char buf[48];
    if (k >= 0) std::snprintf(buf, sizeof buf, "%sN%d:%zu", s.empty() ? "" : " ", k, v);
    else std::snprintf(buf, sizeof buf, "%serr%d:%zu", s.empty() ? "" : " ", k, v);
    s += buf;
  }
  return s.empty() ? "-" : s;
}

std::string nodes_str(const std::vector<int>& v) {
  std::string s;
  for (int n : v) s += (s.empty() ? "" : ",") + std::to_string(n);
  return "[" + s + "]";
}

const char* mode_name(int m) {
  switch (m) {
    case kMpolDefault: return "default";
    case kMpolPreferred: return "preferred";
    case kMpolBind: return "bind";
    case kMpolInterleave: return "interleave";
    case kMpolLocal: return "local";
    case kMpolPreferredMany: return "preferred-many";
    default: return "?";
  }
}

/** The memory policy of the VMA holding p, as the kernel has it. */
void check_policy(const char* what, const void* p, int want_mode, const std::vector<int>& want_nodes) {
  int mode = -1;
  unsigned long mask[16] = {};
  if (syscall(SYS_get_mempolicy, &mode, mask, sizeof mask * 8, const_cast<void*>(p), kMpolFAddr) != 0)
    die("get_mempolicy");
  std::vector<int> nodes;
  for (int n = 0; n < static_cast<int>(sizeof mask * 8); ++n)
    if (mask[n / 64] >> (n % 64) & 1) nodes.push_back(n);
  std::printf("  %s: kernel policy %s %s\n", what, mode_name(mode & 0xffff), nodes_str(nodes).c_str());
  if ((mode & 0xffff) != want_mode || nodes != want_nodes) {
    mismatch("%s: kernel policy is %s %s, expected %s %s", what, mode_name(mode & 0xffff), nodes_str(nodes).c_str(),
             mode_name(want_mode), nodes_str(want_nodes).c_str());
  }
}

void check_tier(const char* what, const void* p, const char* want) {
  std::string t = tier_of(p);
  if (t != want) mismatch("%s: tiermalloc_tier_of says '%s', expected '%s'", what, t.c_str(), want);
}

// Contents: a 64-bit word per 8 bytes (a function of the seed and the offset), the tail
// byte by byte; cheap enough for hundreds of MiB under TCG.
uint64_t word(unsigned seed, size_t i) { return (seed + 1) * 0x9E3779B97F4A7C15ull ^ (i * 0xff51afd7ed558ccdull); }

void pattern(unsigned char* p, size_t n, unsigned seed) {
  size_t w = n / 8;
  for (size_t i = 0; i < w; ++i) {
    uint64_t v = word(seed, i);
    std::memcpy(p + i * 8, &v, 8);
  }
  for (size_t i = w * 8; i < n; ++i) p[i] = static_cast<unsigned char>(seed + i);
}

bool verify(const unsigned char* p, size_t n, unsigned seed, const char* what) {
  size_t w = n / 8, bad = SIZE_MAX;
  for (size_t i = 0; i < w && bad == SIZE_MAX; ++i) {
    uint64_t v;
    std::memcpy(&v, p + i * 8, 8);
    if (v != word(seed, i)) bad = i * 8;
  }
  for (size_t i = w * 8; i < n && bad == SIZE_MAX; ++i)
    if (p[i] != static_cast<unsigned char>(seed + i)) bad = i;
  if (bad == SIZE_MAX) return true;
  std::printf("MISMATCH %s: contents changed at byte %zu of %zu\n", what, bad, n);
  g_bad++;
  return false;
}

/** Thousands of small blocks from the default tier: all on node 0, tier `near`. */
struct Small {
  std::vector<std::pair<unsigned char*, size_t>> blocks;
  void make() {
    for (unsigned i = 0; i < 3000; ++i) {
      size_t n = 8 + (static_cast<size_t>(i) * 2654435761u) % (48 * KiB);
      auto* p = static_cast<unsigned char*>(i % 3 == 0 ? std::calloc(1, n) : std::malloc(n));
      if (!p) die("small malloc");
      pattern(p, n, i);
      blocks.emplace_back(p, n);
    }
  }
  void check(int node, const char* tier) {
    Counts c;
    std::map<std::string, size_t> tiers;
    for (auto& [p, n] : blocks) {
      add(c, where(p, n));
      tiers[tier_of(p)]++;
    }
    std::string ts;
    for (auto& [t, k] : tiers) ts += (ts.empty() ? "" : " ") + t + ":" + std::to_string(k);
    std::printf("small blocks x%zu: pages %s; tiers %s\n", blocks.size(), show(c).c_str(), ts.c_str());
    if (on(c, node) != total(c)) mismatch("small blocks: pages off node %d", node);
    if (tiers.size() != 1 || tiers.begin()->first != tier) mismatch("small blocks: not all in tier %s", tier);
    unsigned i = 0;
    for (auto& [p, n] : blocks)
      if (!verify(p, n, i++, "small block")) break;
  }
  void release() {
    for (auto& [p, n] : blocks) std::free(p);
    blocks.clear();
  }
};

long node_mem_mib(int node, const char* field) {
  std::ifstream in("/sys/devices/system/node/node" + std::to_string(node) + "/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    auto k = line.find(field);
    if (k == std::string::npos) continue;
    long kb = std::strtol(line.c_str() + k + std::strlen(field) + 1, nullptr, 10);
    return kb / 1024;
  }
  return -1;
}

void show_free(const char* when) {
  std::printf("free memory %s:", when);
  for (int n = 0; n < 8; ++n) {
    long f = node_mem_mib(n, "MemFree:");
    if (f >= 0) std::printf(" N%d %ld MiB", n, f);
  }
  std::printf("\n");
}

// ---- interleave ---------------------------------------------------------------------------
int check_interleave() {
  Small small;
  small.make();
  struct Big {
    const char* what;
    unsigned char* p;
    size_t n;
  } big[] = {
      {"malloc 64MiB", static_cast<unsigned char*>(std::malloc(64 * MiB)), 64 * MiB},
      {"calloc 32MiB", static_cast<unsigned char*>(std::calloc(32, MiB)), 32 * MiB},
  };
  Counts all;
  unsigned seed = 100;
  for (auto& b : big) {
    if (!b.p) die(b.what);
    if (b.n == 32 * MiB)
      for (size_t i = 0; i < b.n; i += 512)
        if (b.p[i]) {
          mismatch("%s: memory not zeroed", b.what);
          break;
        }
    pattern(b.p, b.n, seed++);  // touches every page
    Counts c = where(b.p, b.n);
    add(all, c);
    size_t t = total(c);
    std::printf("%-14s pages %zu: %s (node 0 %.1f%%, node 1 %.1f%%) tier %s\n", b.what, t, show(c).c_str(),
                100.0 * on(c, 0) / t, 100.0 * on(c, 1) / t, tier_of(b.p).c_str());
    check_policy(b.what, b.p, kMpolInterleave, {0, 1});
    check_tier(b.what, b.p, "spread");
    if (on(c, 0) + on(c, 1) != t) mismatch("%s: pages outside nodes 0 and 1", b.what);
    for (int n : {0, 1})
      if (on(c, n) * 100 < t * 35 || on(c, n) * 100 > t * 65)
        mismatch("%s: node %d does not hold 35%%..65%% of the pages", b.what, n);
  }
  size_t t = total(all);
  std::printf("large blocks together: pages %zu: %s (node 0 %.1f%%, node 1 %.1f%%)\n", t, show(all).c_str(),
              100.0 * on(all, 0) / t, 100.0 * on(all, 1) / t);
  for (int n : {0, 1})
    if (on(all, n) * 100 < t * 35 || on(all, n) * 100 > t * 65)
      mismatch("large blocks together: node %d does not hold 35%%..65%% of the pages", n);
  if (on(all, 0) + on(all, 1) != t) mismatch("large blocks together: pages outside nodes 0 and 1");
  small.check(0, "near");
  seed = 100;
  for (auto& b : big) verify(b.p, b.n, seed++, b.what);
  for (auto& b : big) std::free(b.p);
  small.release();
  return 0;
}

// ---- many 8 MiB blocks on one tier ---------------------------------------------------------
struct Filled {
  std::vector<unsigned char*> blocks;
  std::vector<Counts> where_;
  Counts all;
};

Filled fill_blocks(size_t count, size_t block, const char* tier) {
  Filled f;
  for (size_t i = 0; i < count; ++i) {
    auto* p = static_cast<unsigned char*>(std::malloc(block));
    if (!p) {
      std::printf("MISMATCH malloc %zu of %zu (8 MiB) failed: errno %d\n", i, count, errno);
      std::exit(1);
    }
    pattern(p, block, static_cast<unsigned>(i));
    f.blocks.push_back(p);
    f.where_.push_back(where(p, block));  // right after touching: the order in which nodes fill
    add(f.all, f.where_.back());
    if (tier_of(p) != tier) mismatch("block %zu: tiermalloc_tier_of says '%s', expected '%s'", i, tier_of(p).c_str(), tier);
  }
  // One line per run of blocks with the same node set.
  size_t i = 0;
  while (i < count) {
    auto key = [&](size_t k) {
      std::string s;
      for (auto& [n, c] : f.where_[k]) s += std::to_string(n) + ",";
      return s;
    };
    size_t j = i;
    Counts run;
    while (j < count && key(j) == key(i)) add(run, f.where_[j++]);
    std::printf("  blocks %3zu..%3zu (%4zu MiB): %s\n", i, j - 1, (j - i) * block / MiB, show(run).c_str());
    i = j;
  }
  return f;
}

void verify_blocks(const Filled& f, size_t block) {
  size_t ok = 0;
  for (size_t i = 0; i < f.blocks.size(); ++i)
    if (verify(f.blocks[i], block, static_cast<unsigned>(i), "8 MiB block")) ok++;
    else break;
  std::printf("contents: %zu/%zu blocks verified\n", ok, f.blocks.size());
}

int check_preferred_many() {
  Small small;
  small.make();
  const size_t block = 8 * MiB, count = 80;  // 640 MiB: more than node 2 (512 MiB) holds
  show_free("before");
  Filled f = fill_blocks(count, block, "pair");
  show_free("after");
  check_policy("block 0", f.blocks[0], kMpolPreferredMany, {1, 2});
  size_t t = total(f.all);
  std::printf("%zu x 8 MiB: pages %zu: %s (node 1 %.1f%%, node 2 %.1f%%)\n", count, t, show(f.all).c_str(),
              100.0 * on(f.all, 1) / t, 100.0 * on(f.all, 2) / t);
  if (on(f.all, 1) + on(f.all, 2) != t) mismatch("pair: pages outside nodes 1 and 2 (%s)", show(f.all).c_str());
  if (on(f.all, 0)) mismatch("pair: %zu pages on node 0", on(f.all, 0));
  // 640 MiB do not fit on node 2 alone, nor (with the first pages on node 2, the nearer
  // one to the CPUs) on node 1 alone: a tier that really is on both nodes uses both.
  if (!on(f.all, 1) || !on(f.all, 2)) mismatch("pair: not both nodes 1 and 2 used (%s)", show(f.all).c_str());
  small.check(0, "near");
  verify_blocks(f, block);
  for (auto* p : f.blocks) std::free(p);
  small.release();
  return 0;
}

int check_spill() {
  const size_t block = 8 * MiB, count = 88;  // 704 MiB on a 512 MiB node
  long node2 = node_mem_mib(2, "MemTotal:");
  show_free("before");
  Filled f = fill_blocks(count, block, "hbm");
  show_free("after");
  check_policy("block 0", f.blocks[0], kMpolPreferred, {2});
  size_t t = total(f.all);
  size_t n2 = on(f.all, 2);
  std::printf("%zu x 8 MiB: pages %zu: %s; %zu MiB on node 2 (of %ld MiB), %zu MiB elsewhere\n", count, t,
              show(f.all).c_str(), n2 * kPage / MiB, node2, (t - n2) * kPage / MiB);
  for (auto& [k, v] : f.all)
    if (k < 0) mismatch("spill: %zu pages not present (status %d)", v, k);
  // Node 2 first: the leading blocks are wholly there until the node fills...
  size_t lead = 0;
  while (lead < count && on(f.where_[lead], 2) == block / kPage) lead++;
  std::printf("first %zu blocks (%zu MiB) wholly on node 2; first block with pages elsewhere: %zu\n", lead,
              lead * block / MiB, lead);
  if (lead * block < static_cast<size_t>(node2 > 0 ? node2 : 512) * MiB / 2)
    mismatch("spill: node 2 did not take the first blocks until it filled (%zu MiB wholly there)", lead * block / MiB);
  if (n2 * kPage < static_cast<size_t>(node2 > 0 ? node2 : 512) * MiB * 6 / 10)
    mismatch("spill: node 2 holds only %zu MiB", n2 * kPage / MiB);
  // ...then the kernel spills the rest elsewhere (704 MiB cannot fit on node 2).
  if (t == n2) mismatch("spill: every page on node 2 -- nothing spilled?");
  size_t late2 = 0, late = 0;
  for (size_t i = lead; i < count; ++i) {
    late2 += on(f.where_[i], 2);
    late += total(f.where_[i]);
  }
  std::printf("after node 2 filled: %zu of %zu pages still on node 2\n", late2, late);
  verify_blocks(f, block);
  for (auto* p : f.blocks) std::free(p);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: modes interleave|preferred-many|spill\n");
    return 2;
  }
  g_tier_of = reinterpret_cast<TierOf>(dlsym(RTLD_DEFAULT, "tiermalloc_tier_of"));
  g_tier_name = reinterpret_cast<TierName>(dlsym(RTLD_DEFAULT, "tiermalloc_tier_name"));
  if (!g_tier_of || !g_tier_name) std::printf("modes: tiermalloc is not loaded: tier checks will fail\n");
  std::string c = argv[1];
  if (c == "interleave") check_interleave();
  else if (c == "preferred-many") check_preferred_many();
  else if (c == "spill") check_spill();
  else {
    std::fprintf(stderr, "modes: unknown check %s\n", argv[1]);
    return 2;
  }
  std::printf("modes %s: %s\n", argv[1], g_bad ? "FAILED" : "OK");
  return g_bad ? 1 : 0;
}
