// SPDX-License-Identifier: MIT
// policy/callsite.hpp -- a return address, named: module, offset, symbol.
//
// Runs on the allocator's slow path, once per call site: no std::string, no allocation of
// its own (per module, once, a table of its exported and .symtab functions sorted by address,
// in raw mmap memory; then a binary search per site: policy/callsite.cpp); the caller holds
// the allocator's reentrancy guard, so a nested allocation (there should be none) cannot
// recurse into resolution.  Thread-safe and fork-safe.
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

/** The fallback resolve_site takes when its tables cannot answer (dladdr1 twice, readlink,
 *  the file's .symtab scanned): same answers, no cache.  tests/unit/test_callsite.cpp holds
 *  resolve_site to it. */
bool resolve_site_uncached(uintptr_t ra, SiteName* out);

/** Tests only (tests/unit/test_callsite.cpp): how many modules have a cached table, and
 *  taking or releasing the table builders' lock as a thread building one would hold it. */
size_t resolve_cached_modules_for_test();
void resolve_hold_build_lock_for_test(bool hold);

/** The part of a path after its last '/'. */
const char* base_name(const char* path);

}  // namespace tiermalloc::policy
