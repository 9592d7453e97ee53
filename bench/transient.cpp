// SPDX-License-Identifier: MIT
// bench/transient.cpp -- the cost of large temporaries: allocate a block, touch every page
// of it once (first touch), free it; repeated.  Run under tiermalloc with the block size sent
// to a transient tier, then to a DRAM tier (bench/transient.py does both and divides).
// Then realloc growth: one block grown from MIB to 8 x MIB in steps of MIB, the new part
// touched each time (a transient block's file and mapping are resized; DRAM copies).
//   transient MIB COUNT   -> prints "alloc_us <per block> touch_gbs <first-touch GB/s>
//                            checksum <x> grow_us <per realloc step>"
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
  double grow_s = 0;
  int steps = 0;
  for (int i = 0; i < count / 4 + 1; ++i) {
    auto* p = static_cast<unsigned char*>(std::malloc(size));
    if (!p) return 1;
    std::memset(p, 1, size);
    for (size_t n = 2 * size; n <= 8 * size; n += size, ++steps) {
      auto t0 = std::chrono::steady_clock::now();
      p = static_cast<unsigned char*>(std::realloc(p, n));
      auto t1 = std::chrono::steady_clock::now();
      grow_s += std::chrono::duration<double>(t1 - t0).count();
      if (!p) {
        std::printf("realloc failed\n");
        return 1;
      }
      for (size_t off = n - size; off < n; off += 4096) p[off] = 1;
    }
    for (size_t off = 0; off < 8 * size; off += 1 << 20) sum += p[off];
    std::free(p);
  }
  std::printf("alloc_us %.1f touch_gbs %.3f checksum %lu grow_us %.1f\n", alloc_s / count * 1e6,
              static_cast<double>(size) * count / touch_s / 1e9, sum, grow_s / steps * 1e6);
  return 0;
}
