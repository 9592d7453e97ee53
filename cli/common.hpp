// SPDX-License-Identifier: MIT
// cli/common.hpp -- what report and suggest share: loading a JSON file with one-line errors,
// typed field access that names the field and its position, human units.
#pragma once
#include <cstdint>
#include <string>

#include "cli/json.hpp"

namespace tiermalloc::cli {

/** Prints "tiermalloc: MSG" and exits 2 (a tool error). */
[[noreturn]] void fail(const std::string& msg);

/** Reads and parses a JSON file; a missing file or a syntax error is fatal:
 *  "CMD: cannot open 'F': No such file or directory", "CMD: F:3:14: expected ...". */
json::Value load_json(const std::string& path, const std::string& cmd);

/** Typed access, fatal on a wrong type: "CMD: FILE:L:C: WHERE.KEY: expected ..., found ...".
 *  An absent key (or null, where allowed) gives the default. */
struct Reader {
  std::string cmd, file;
  uint64_t u64(const json::Value& obj, const char* key, const std::string& where, uint64_t def = 0) const;
  double num(const json::Value& obj, const char* key, const std::string& where, double def = 0) const;
  /** A string, or def when absent or null. */
  std::string str(const json::Value& obj, const char* key, const std::string& where, const std::string& def = "") const;
  bool has_str(const json::Value& obj, const char* key) const;
  const json::Value& array(const json::Value& obj, const char* key, const std::string& where, bool required) const;
  const json::Value& object(const json::Value& obj, const char* key, const std::string& where, bool required) const;
  [[noreturn]] void bad(const json::Value& v, const std::string& what, const std::string& expected) const;
};

/** 512 B, 4.0 KiB, 1.5 MiB, 2.3 GiB. */
std::string human_bytes(uint64_t v);
/** 1234567 -> 1,234,567. */
std::string grouped(uint64_t v);
/** A size as the policy writes it, exactly: 4096 -> 4KiB, 1536 -> 1536. */
std::string policy_size(uint64_t v);
/** Replaces control characters (a terminal escape in a symbol name) with '?'. */
std::string printable(const std::string& s);

}  // namespace tiermalloc::cli
