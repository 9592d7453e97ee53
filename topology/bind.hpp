// SPDX-License-Identifier: MIT
// topology/bind.hpp -- memory policy of an address range, by raw system call.
//
// Used by the preload library on its slow path (tier arenas, placed mmaps): no libnuma,
// no allocation, errno-neutral.  Returns 0 or a positive errno value.
#pragma once
#include <cstddef>

#include "policy/compiled.hpp"

namespace tiermalloc::topo {

int bind_range(void* addr, size_t len, TierMode mode, const NodeMask& nodes);

/** The node holding the page at addr (after touching it), or -errno. Tests and stats only. */
int node_of_page(void* addr);

}  // namespace tiermalloc::topo
