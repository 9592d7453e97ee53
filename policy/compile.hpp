// SPDX-License-Identifier: MIT
// policy/compile.hpp -- model + machine -> CompiledPolicy.
#pragma once
#include <string>
#include <vector>

#include "policy/model.hpp"
#include "topology/topology.hpp"

namespace tiermalloc::policy {

/** Name of tier 0: plain allocation, bound nowhere; the last resort of every chain. */
inline constexpr const char* kPlainTier = "plain";

/**
 * Compiles a parsed policy for this machine.  Errors (a rule naming no tier, an unknown
 * selector...) go to *problems and make the result false; conditions of the machine (a node
 * that does not exist here) are not errors: the tier is marked unavailable, a note says why,
 * and its allocations take the fallback chain.  *out is always left usable: on error it is
 * the plain policy.  May allocate.
 */
bool compile_policy(const PolicySpec& spec, const topo::Machine& machine, CompiledPolicy* out,
                    std::vector<Problem>* problems, std::vector<std::string>* notes);

/** The policy used without a file, with TIERMALLOC_DISABLE=1, or after an error: one plain tier. */
void plain_policy(CompiledPolicy* out);
/** Free memory changes from one process to the next: a `mode: bind` tier's budget (its nodes'
 *  free memory at start) is set from this machine's figures.  compile_policy and a read from
 *  the cache (policy/cache.hpp) both end with it. */
void refresh_bind_budgets(const topo::Machine& machine, CompiledPolicy* c);

std::string describe_nodes(const NodeMask& m);
const char* mode_name(TierMode m);

}  // namespace tiermalloc::policy
