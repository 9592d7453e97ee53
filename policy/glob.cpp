// SPDX-License-Identifier: MIT
// policy/glob.cpp -- glob matching for program, module and symbol patterns.
#include <fnmatch.h>

#include "policy/model.hpp"

namespace tiermalloc::policy {

bool glob_match(const std::string& pattern, const std::string& text) {
  return fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

}  // namespace tiermalloc::policy
