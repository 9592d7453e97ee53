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
  return true;  // a stack condition, if any, is decided per allocation
}

namespace {

bool symbol_matches(const char* pattern, const SiteName& site, const char* demangled) {
  return (site.symbol[0] && fnmatch(pattern, site.symbol, 0) == 0) || (demangled && fnmatch(pattern, demangled, 0) == 0);
}

}  // namespace

SiteTraits site_traits(const CompiledPolicy& c, const SiteName& site) {
  SiteTraits t{c.site_free_mask, 0, false};
  if (!c.has_site_rules) return t;
  int status = -1;
  char* demangled = site.symbol[0] == '_' && site.symbol[1] == 'Z'
                        ? abi::__cxa_demangle(site.symbol, nullptr, nullptr, &status)
                        : nullptr;
  const char* dm = status == 0 ? demangled : nullptr;
  for (int i = 0; i < c.nrules; ++i) {
    const CompiledRule& r = c.rules[i];
    if (r.has_site() && rule_site_matches(r, site, dm)) t.mask |= uint64_t{1} << i;
    for (int k = 0; k < r.nstack; ++k)
      if (symbol_matches(r.stack[k], site, dm)) t.stack_bits |= uint64_t{1} << i;
  }
  for (int k = 0; k < c.nwrappers && !t.wrapper; ++k) t.wrapper = symbol_matches(c.wrappers[k], site, dm);
  std::free(demangled);
  return t;
}


}  // namespace tiermalloc::policy
