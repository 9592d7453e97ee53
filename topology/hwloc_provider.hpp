// SPDX-License-Identifier: MIT
// topology/hwloc_provider.hpp -- a Machine from hwloc: this host, or an hwloc XML file.
#pragma once
#include <string>

#include "topology/topology.hpp"

namespace tiermalloc::topo {

/** Loads this host (xml_path empty) or an hwloc XML export. Returns false and sets *error on failure. */
bool load_hwloc(Machine* out, const std::string& xml_path, std::string* error);

}  // namespace tiermalloc::topo
