// SPDX-License-Identifier: MIT
// policy/match.cpp -- call-site conditions against a named site.
#include "policy/match.hpp"

#include <cxxabi.h>
#include <fnmatch.h>

#include <cstdlib>

namespace tiermalloc::policy {

bool rule_site_matches(const CompiledRule& r, const SiteName& site, const char* demangled) {
  if (r.nmodule) {
    bool any = false;
    for (int k = 0; k < r.nmodule && !any; ++k)
      any = fnmatch(r.module[k], base_name(site.module), 0) == 0 || fnmatch(r.module[k], site.module, 0) == 0;
    if (!any) return false;
  }
  if (r.nfunction) {
    bool any = false;
    for (int k = 0; k < r.nfunction && !any; ++k)
      any = (site.symbol[0] && fnmatch(r.function[k], site.symbol, 0) == 0) ||
            (demangled && fnmatch(r.function[k], demangled, 0) == 0);
    if (!any) return false;
  }
  return true;
}

uint64_t rules_for_site(const CompiledPolicy& c, const SiteName& site) {
  uint64_t mask = c.site_free_mask;
  if (!c.has_site_rules) return mask;
  int status = -1;
  char* demangled = site.symbol[0] == '_' && site.symbol[1] == 'Z'
                        ? abi::__cxa_demangle(site.symbol, nullptr, nullptr, &status)
                        : nullptr;
  for (int i = 0; i < c.nrules; ++i)
    if (c.rules[i].has_site() && rule_site_matches(c.rules[i], site, status == 0 ? demangled : nullptr))
      mask |= uint64_t{1} << i;
  std::free(demangled);
  return mask;
}

}  // namespace tiermalloc::policy
