// SPDX-License-Identifier: MIT
// policy/match.hpp -- which rules can apply at a call site.
#pragma once
#include <cstdint>

#include "policy/callsite.hpp"
#include "policy/compiled.hpp"

namespace tiermalloc::policy {

/** Whether rule r's module and function conditions hold at site (its stack condition is
 *  decided per allocation). */
bool rule_site_matches(const CompiledRule& r, const SiteName& site, const char* demangled);

/** What a site means for the per-allocation part of matching. */
struct SiteTraits {
  uint64_t mask;        // every rule without call-site conditions, plus those whose module
                        // and function globs hold here (module: file name or path; function:
                        // the symbol as linked or demangled)
  uint64_t stack_bits;  // stack rules one of whose patterns this frame's symbol matches
  bool wrapper;         // the symbol matches `wrappers:`: look one frame further out
};
/** Slow path; may allocate (the demangler): the caller holds the reentrancy guard. */
SiteTraits site_traits(const CompiledPolicy& c, const SiteName& site);

}  // namespace tiermalloc::policy
