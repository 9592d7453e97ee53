// SPDX-License-Identifier: MIT
// policy/match.hpp -- which rules can apply at a call site.
#pragma once
#include <cstdint>

#include "policy/callsite.hpp"
#include "policy/compiled.hpp"

namespace tiermalloc::policy {

/**
 * The rules whose call-site conditions hold at this site (bit i = rule i), plus every rule
 * without such conditions.  A rule's module globs are tried on the module's file name and
 * full path, its function globs on the symbol as linked and demangled.  Slow path; may
 * allocate (the demangler): the caller holds the allocator's reentrancy guard.
 */
uint64_t rules_for_site(const CompiledPolicy& c, const SiteName& site);

/** Whether rule r's module and function conditions hold at site (its stack condition is
 *  decided per allocation). */
bool rule_site_matches(const CompiledRule& r, const SiteName& site, const char* demangled);

/** What a site means for the per-allocation part of matching. */
struct SiteTraits {
  uint64_t mask;        // rules_for_site()
  uint64_t stack_bits;  // stack rules one of whose patterns this frame's symbol matches
  bool wrapper;         // the symbol matches `wrappers:`: look one frame further out
};
SiteTraits site_traits(const CompiledPolicy& c, const SiteName& site);

}  // namespace tiermalloc::policy
