// SPDX-License-Identifier: MIT
// bench/transient.cpp -- the cost of large temporaries: allocate a block, touch every page
// of it once (first touch), free it; repeated.  Run under tiermalloc with the block size sent
// to a transient tier, then to a DRAM tier (bench/transient.py does both and divides).
//   transient MIB COUNT   -> prints "alloc_us <per block> touch_gbs <first-touch GB/s> checksum <x>"
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  size_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 64;
  int count = argc > 2 ? std::atoi(argv[2]) : 32;
  size_t size = mib << 20;
  double alloc_s = 0, touch_s = 0;
  unsigned long sum = 0;
  for (int i = 0; i < count; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto* p = static_cast<unsigned char*>(std::malloc(size));
    auto t1 = std::chrono::steady_clock::now();
    if (!p) {
      std::printf("malloc failed\n");
      return 1;
    }
    for (size_t off = 0; off < size; off += 4096) p[off] = static_cast<unsigned char>(i + off);
    auto t2 = std::chrono::steady_clock::now();
    for (size_t off = 0; off < size; off += 1 << 20) sum += p[off];
    std::free(p);
    auto t3 = std::chrono::steady_clock::now();
    alloc_s += std::chrono::duration<double>(t1 - t0 + (t3 - t2)).count();
    touch_s += std::chrono::duration<double>(t2 - t1).count();
  }
  std::printf("alloc_us %.1f touch_gbs %.3f checksum %lu\n", alloc_s / count * 1e6,
              static_cast<double>(size) * count / touch_s / 1e9, sum);
  return 0;
}
