// SPDX-License-Identifier: MIT
// topology/bind.cpp -- mbind(2)/move_pages(2) by system call, so that the allocator's
// slow path never enters libnuma (which allocates) and never depends on its presence.
#include "topology/bind.hpp"

#include <linux/mempolicy.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace tiermalloc::topo {

int bind_range(void* addr, size_t len, TierMode mode, const NodeMask& nodes) {
  int saved = errno;
  int mpol = MPOL_DEFAULT;
  const unsigned long* mask = nullptr;
  unsigned long maxnode = 0;
  if (!nodes.empty()) {
    mask = reinterpret_cast<const unsigned long*>(nodes.bits);
    maxnode = kNodeWords * 64 + 1;
    switch (mode) {
      case TierMode::kBind: mpol = MPOL_BIND; break;
      case TierMode::kInterleave: mpol = MPOL_INTERLEAVE; break;
      case TierMode::kDefault:
      case TierMode::kPreferred:
        // Several preferred nodes need MPOL_PREFERRED_MANY (Linux 5.15); older kernels
        // refuse it with EINVAL, and then the first node is preferred alone.
        mpol = nodes.count() > 1 ? 5 /* MPOL_PREFERRED_MANY */ : MPOL_PREFERRED;
        break;
    }
  }
  long rc = syscall(SYS_mbind, addr, len, mpol, mask, maxnode, 0);
  if (rc != 0 && mpol == 5) {
    NodeMask first{};
    for (int n = 0; n < kNodeWords * 64; ++n)
      if (nodes.test(n)) { first.set(n); break; }
    rc = syscall(SYS_mbind, addr, len, MPOL_PREFERRED, first.bits, kNodeWords * 64 + 1, 0);
  }
  int err = rc == 0 ? 0 : errno;
  errno = saved;
  return err;
}

int node_of_page(void* addr) {
  int status = -1;
  void* pages[1] = {addr};
  long rc = syscall(SYS_move_pages, 0, 1, pages, nullptr, &status, 0);
  if (rc != 0) return -errno;
  return status;
}

}  // namespace tiermalloc::topo
