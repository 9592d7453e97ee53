// SPDX-License-Identifier: MIT
// policy/callsite.hpp -- a return address, named: module, offset, symbol.
//
// Runs on the allocator's slow path, once per call site: no std::string, no allocation of
// its own (dladdr, then the module's ELF .symtab read through a read-only mapping when the
// symbol is not exported); the caller holds the allocator's reentrancy guard, so a nested
// allocation (there should be none) cannot recurse into resolution.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tiermalloc::policy {

struct SiteName {
  char module[512];   // path of the shared object or executable ("" if unknown)
  uintptr_t offset;   // return address minus the module's load bias
  char symbol[256];   // the enclosing function's symbol, mangled ("" if none)
};

/** Names the code at return address ra. Returns false if no module contains it. */
bool resolve_site(uintptr_t ra, SiteName* out);

/** The part of a path after its last '/'. */
const char* base_name(const char* path);

}  // namespace tiermalloc::policy
