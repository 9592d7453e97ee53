// SPDX-License-Identifier: MIT
// tests/vm/fill.cpp -- a strict (bind) tier on the 512 MiB HBM node of the hmat-vm guest
// is asked for 768 MiB in 8 MiB blocks.  Every allocation must succeed (the tier's arena
// ends before the node does, then the fallback chain takes over), every page must be
// writable and keep its contents, and the program must not be killed.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

int main() {
  auto tier_of = reinterpret_cast<int (*)(const void*)>(dlsym(RTLD_DEFAULT, "tiermalloc_tier_of"));
  auto tier_name = reinterpret_cast<const char* (*)(int)>(dlsym(RTLD_DEFAULT, "tiermalloc_tier_name"));
  const size_t block = 8u << 20, count = 96;
  std::vector<unsigned char*> blocks;
  int in_hbm = 0, elsewhere = 0;
  for (size_t i = 0; i < count; ++i) {
    auto* p = static_cast<unsigned char*>(std::malloc(block));
    if (!p) {
      std::printf("fill: malloc %zu of %zu failed\n", i, count);
      return 1;
    }
    std::memset(p, static_cast<int>(i & 0xff), block);
    blocks.push_back(p);
    if (tier_of && tier_name) {
      const char* n = tier_name(tier_of(p));
      (n && std::strcmp(n, "hbm") == 0 ? in_hbm : elsewhere)++;
    }
  }
  for (size_t i = 0; i < count; ++i)
    for (size_t off = 0; off < block; off += 4096)
      if (blocks[i][off] != static_cast<unsigned char>(i & 0xff)) {
        std::printf("fill: block %zu corrupted at %zu\n", i, off);
        return 1;
      }
  std::printf("fill: %zu x 8 MiB written and checked: %d in hbm, %d fell back\n", count, in_hbm, elsewhere);
  for (auto* p : blocks) std::free(p);
  return in_hbm > 0 && elsewhere > 0 ? 0 : 1;
}
