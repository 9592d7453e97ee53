// SPDX-License-Identifier: MIT
// tests/vm/placement.cpp -- where did the pages of large and small blocks land?
//
//   LD_PRELOAD=libtiermalloc.so TIERMALLOC_POLICY=p.yaml
//   placement --large-node 1 --small-node 0 [--large-tier cxl] [--small-tier near]
//
// Allocates large blocks through every API (malloc, calloc, posix_memalign, aligned_alloc,
// new[], realloc growth across the 1 MiB boundary, one from a second thread) and thousands
// of small ones, writes every byte, asks the kernel with move_pages(0, n, pages, NULL,
// status, 0) which node holds each page, and checks that every page of a large block is on
// --large-node and every page of a small block on --small-node.  With tiermalloc loaded it
// also asks tiermalloc_tier_of() for each block's tier.  Finally it re-reads every byte.
// Prints one line per block group; exit 0 = all as expected, 1 = a mismatch, 2 = usage or
// allocation failure.  No libnuma: raw system calls only.
#include <dlfcn.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr size_t KiB = 1024, MiB = 1024 * KiB;
const size_t kPage = static_cast<size_t>(sysconf(_SC_PAGESIZE));

struct Block {
  std::string group;  // blocks of a group are reported together
  void* p;
  size_t size;
  bool large;
  unsigned char seed;
};

std::vector<Block> g_blocks;

using TierOf = int (*)(const void*);
using TierName = const char* (*)(int);
TierOf g_tier_of;
TierName g_tier_name;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "placement: %s failed (errno %d: %s)\n", what, errno, std::strerror(errno));
  std::exit(2);
}

void fill(const Block& b) {
  auto* c = static_cast<unsigned char*>(b.p);
  for (size_t i = 0; i < b.size; ++i) c[i] = static_cast<unsigned char>(b.seed + i * 7 + (i >> 12));
}

bool verify(const Block& b) {
  const auto* c = static_cast<const unsigned char*>(b.p);
  for (size_t i = 0; i < b.size; ++i)
    if (c[i] != static_cast<unsigned char>(b.seed + i * 7 + (i >> 12))) {
      std::fprintf(stderr, "placement: %s: byte %zu of %zu changed\n", b.group.c_str(), i, b.size);
      return false;
    }
  return true;
}

void add(std::string group, void* p, size_t size, bool large) {
  if (!p) die(group.c_str());
  static unsigned char seed = 1;
  g_blocks.push_back(Block{std::move(group), p, size, large, seed++});
  fill(g_blocks.back());
}

bool all_zero(const void* p, size_t n) {
  const auto* c = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i)
    if (c[i]) return false;
  return true;
}

// A second thread's heaps: one large and a few hundred small blocks, handed back to main.
struct ThreadResult {
  void* large = nullptr;
  std::vector<std::pair<void*, size_t>> small;
};

void thread_body(ThreadResult* r) {
  r->large = std::malloc(6 * MiB);
  for (int i = 0; i < 300; ++i) {
    size_t n = 24 + (static_cast<size_t>(i) * 2654435761u) % (96 * KiB);
    r->small.emplace_back(std::malloc(n), n);
  }
}

struct Tally {
  size_t pages = 0;
  std::map<int, size_t> by_status;  // node id, or -errno (not present, ...)
  std::map<std::string, size_t> tiers;
  size_t blocks = 0, bytes = 0;
  bool large = false;
};

const char* tier_of(const void* p) {
  if (!g_tier_of || !g_tier_name) return "(not preloaded)";
  const char* n = g_tier_name(g_tier_of(p));
  return n ? n : "(null)";
}

void query(const Block& b, Tally& t) {
  uintptr_t first = reinterpret_cast<uintptr_t>(b.p) & ~(kPage - 1);
  uintptr_t last = (reinterpret_cast<uintptr_t>(b.p) + b.size - 1) & ~(kPage - 1);
  size_t n = (last - first) / kPage + 1;
  std::vector<void*> pages(n);
  std::vector<int> status(n, -999);
  for (size_t i = 0; i < n; ++i) pages[i] = reinterpret_cast<void*>(first + i * kPage);
  if (syscall(SYS_move_pages, 0, n, pages.data(), nullptr, status.data(), 0) != 0) die("move_pages");
  for (int s : status) t.by_status[s]++;
  t.pages += n;
  t.blocks++;
  t.bytes += b.size;
  t.large = b.large;
  t.tiers[tier_of(b.p)]++;
}

std::string human(size_t n) {
  char buf[32];
  if (n >= MiB && n % MiB == 0) std::snprintf(buf, sizeof buf, "%zu MiB", n / MiB);
  else if (n >= MiB) std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(n) / MiB);
  else std::snprintf(buf, sizeof buf, "%zu KiB", n / KiB);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  int large_node = -1, small_node = -1;
  const char* large_tier = nullptr;
  const char* small_tier = nullptr;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "usage: placement --large-node N --small-node N [--large-tier T] [--small-tier T]\n");
      return 2;
    }
    if (a == "--large-node") large_node = std::atoi(argv[++i]);
    else if (a == "--small-node") small_node = std::atoi(argv[++i]);
    else if (a == "--large-tier") large_tier = argv[++i];
    else if (a == "--small-tier") small_tier = argv[++i];
    else { std::fprintf(stderr, "placement: unknown argument %s\n", argv[i]); return 2; }
  }
  if (large_node < 0 || small_node < 0) {
    std::fprintf(stderr, "usage: placement --large-node N --small-node N [--large-tier T] [--small-tier T]\n");
    return 2;
  }
  g_tier_of = reinterpret_cast<TierOf>(dlsym(RTLD_DEFAULT, "tiermalloc_tier_of"));
  g_tier_name = reinterpret_cast<TierName>(dlsym(RTLD_DEFAULT, "tiermalloc_tier_name"));
  g_blocks.reserve(8192);
  int bad = 0;

  // ---- large blocks, one per API ------------------------------------------------------
  add("malloc 4MiB", std::malloc(4 * MiB), 4 * MiB, true);
  {
    void* p = std::calloc(8, MiB);
    if (!p) die("calloc");
    if (!all_zero(p, 8 * MiB)) { std::printf("MISMATCH calloc 8MiB: memory not zeroed\n"); bad++; }
    add("calloc 8x1MiB", p, 8 * MiB, true);
  }
  {
    void* p = nullptr;
    if (posix_memalign(&p, 64 * KiB, 2 * MiB) != 0) die("posix_memalign");
    if (reinterpret_cast<uintptr_t>(p) % (64 * KiB)) { std::printf("MISMATCH posix_memalign: %p not 64 KiB aligned\n", p); bad++; }
    add("posix_memalign 2MiB/64KiB", p, 2 * MiB, true);
  }
  {
    void* p = aligned_alloc(4 * KiB, 1 * MiB);  // exactly the rule's boundary: ">= 1MiB"
    if (p && reinterpret_cast<uintptr_t>(p) % (4 * KiB)) { std::printf("MISMATCH aligned_alloc: %p not 4 KiB aligned\n", p); bad++; }
    add("aligned_alloc 1MiB/4KiB", p, 1 * MiB, true);
  }
  add("new[] 16MiB", new char[16 * MiB], 16 * MiB, true);
  {  // realloc growth from a small block across the boundary; contents must survive
    size_t n = 64 * KiB;
    auto* p = static_cast<unsigned char*>(std::malloc(n));
    if (!p) die("malloc");
    for (size_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>(i * 13);
    for (size_t to : {512 * KiB, 3 * MiB, 24 * MiB}) {
      p = static_cast<unsigned char*>(std::realloc(p, to));
      if (!p) die("realloc");
      for (size_t i = 0; i < 64 * KiB; ++i)
        if (p[i] != static_cast<unsigned char>(i * 13)) {
          std::printf("MISMATCH realloc to %s: byte %zu lost\n", human(to).c_str(), i);
          bad++;
          break;
        }
    }
    add("realloc 64KiB->24MiB", p, 24 * MiB, true);
  }
  add("malloc 64MiB", std::malloc(64 * MiB), 64 * MiB, true);

  // ---- small blocks ---------------------------------------------------------------------
  for (int i = 0; i < 4000; ++i) {
    size_t n = 1 + (static_cast<size_t>(i) * 2654435761u) % (16 * KiB);
    add("malloc small x4000", std::malloc(n), n, false);
  }
  for (int i = 0; i < 500; ++i) add("new small x500", new long[1 + i % 300], sizeof(long) * (1 + i % 300), false);
  for (int i = 0; i < 200; ++i) {
    size_t n = 16 + i * 40;
    void* p = std::calloc(1, n);
    if (p && !all_zero(p, n)) { std::printf("MISMATCH calloc small: memory not zeroed\n"); bad++; }
    add("calloc small x200", p, n, false);
  }
  add("malloc 1MiB-4KiB", std::malloc(MiB - 4 * KiB), MiB - 4 * KiB, false);  // just below
  {  // realloc shrinking within the small class
    void* p = std::malloc(200 * KiB);
    add("realloc 200->100KiB", std::realloc(p, 100 * KiB), 100 * KiB, false);
  }

  // ---- a second thread ------------------------------------------------------------------
  ThreadResult tr;
  std::thread(thread_body, &tr).join();
  add("thread malloc 6MiB", tr.large, 6 * MiB, true);
  for (auto& [p, n] : tr.small) add("thread small x300", p, n, false);

  // ---- where are they? ------------------------------------------------------------------
  std::vector<std::string> order;
  std::map<std::string, Tally> tally;
  for (const Block& b : g_blocks) {
    if (!tally.count(b.group)) order.push_back(b.group);
    query(b, tally[b.group]);
  }
  std::printf("%-28s %6s %9s %7s  %-22s %s\n", "block", "count", "bytes", "pages", "node:pages", "tier");
  size_t large_pages = 0, large_ok = 0, small_pages = 0, small_ok = 0;
  for (const std::string& g : order) {
    const Tally& t = tally[g];
    int want = t.large ? large_node : small_node;
    const char* want_tier = t.large ? large_tier : small_tier;
    std::string nodes, tiers;
    for (auto& [s, c] : t.by_status) {
      char buf[48];
      if (s >= 0) std::snprintf(buf, sizeof buf, "%sN%d:%zu", nodes.empty() ? "" : " ", s, c);
      else std::snprintf(buf, sizeof buf, "%serr%d:%zu", nodes.empty() ? "" : " ", s, c);
      nodes += buf;
    }
    for (auto& [n, c] : t.tiers) tiers += (tiers.empty() ? "" : " ") + n + (t.tiers.size() > 1 ? ":" + std::to_string(c) : "");
    size_t on = t.by_status.count(want) ? t.by_status.at(want) : 0;
    (t.large ? large_pages : small_pages) += t.pages;
    (t.large ? large_ok : small_ok) += on;
    bool ok = on == t.pages;
    if (want_tier && !(t.tiers.size() == 1 && t.tiers.begin()->first == want_tier)) ok = false;
    std::printf("%-28s %6zu %9s %7zu  %-22s %s%s\n", g.c_str(), t.blocks, human(t.bytes).c_str(), t.pages,
                nodes.c_str(), tiers.c_str(), ok ? "" : "   <-- MISMATCH");
    if (!ok) {
      std::printf("MISMATCH %s: expected every page on node %d%s%s\n", g.c_str(), want,
                  want_tier ? " in tier " : "", want_tier ? want_tier : "");
      bad++;
    }
  }
  for (const Block& b : g_blocks)
    if (!verify(b)) { bad++; break; }
  std::printf("large blocks: %zu/%zu pages on node %d; small blocks: %zu/%zu pages on node %d\n",
              large_ok, large_pages, large_node, small_ok, small_pages, small_node);
  std::printf("%s\n", bad ? "placement: FAILED" : "placement: OK");
  return bad ? 1 : 0;
}
