// SPDX-License-Identifier: MIT
// topology/hwloc_provider.hpp -- a Machine from hwloc: this host, or an hwloc XML file.
#pragma once
#include <string>

#include "topology/topology.hpp"

namespace tiermalloc::topo {

/** Loads this host (xml_path empty) or an hwloc XML export, seen from the CPUs in cpus_list
 *  (a cpulist such as "0-3"; empty = this process's binding, or every CPU of an XML file).
 *  Returns false and sets *error on failure. */
bool load_hwloc(Machine* out, const std::string& xml_path, std::string* error, const std::string& cpus_list = "");

}  // namespace tiermalloc::topo
