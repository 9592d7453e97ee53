// SPDX-License-Identifier: MIT
// policy/size.cpp -- sizes ("64MiB"), size conditions (">= 1MiB", "4KiB..1MiB") and api names.
#include <cctype>
#include <cstring>

#include "policy/model.hpp"

namespace tiermalloc::policy {
namespace {

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

}  // namespace

std::string Problem::str() const {
  std::string s = file.empty() ? std::string("<policy>") : file;
  if (loc.line > 0) s += ":" + std::to_string(loc.line) + ":" + std::to_string(loc.col);
  return s + ": " + message;
}

bool parse_size(const std::string& text, uint64_t* out, std::string* error) {
  std::string s = trim(text);
  size_t i = 0;
  uint64_t v = 0;
  if (s.empty() || !std::isdigit(static_cast<unsigned char>(s[0]))) {
    *error = "expected a size such as 4096, 64KiB, 1MiB or 2GiB, found '" + s + "'";
    return false;
  }
  for (; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i) {
    if (v > (UINT64_MAX - 9) / 10) {
      *error = "size '" + s + "' is too large";
      return false;
    }
    v = v * 10 + static_cast<uint64_t>(s[i] - '0');
  }
  std::string unit = trim(s.substr(i));
  static const struct { const char* name; int shift; } units[] = {
      {"", 0}, {"B", 0}, {"K", 10}, {"KiB", 10}, {"KB", 10}, {"M", 20}, {"MiB", 20}, {"MB", 20},
      {"G", 30}, {"GiB", 30}, {"GB", 30}, {"T", 40}, {"TiB", 40}, {"TB", 40}};
  for (const auto& u : units) {
    if (unit != u.name) continue;
    if (u.shift && v > (UINT64_MAX >> u.shift)) {
      *error = "size '" + s + "' is too large";
      return false;
    }
    *out = v << u.shift;
    return true;
  }
  *error = "unknown size unit '" + unit + "' in '" + s + "' (expected B, KiB, MiB, GiB, TiB or K, M, G, T)";
  return false;
}

bool parse_size_range(const std::string& text, SizeRange* out, std::string* error) {
  std::string s = trim(text);
  SizeRange r;
  auto dots = s.find("..");
  if (dots != std::string::npos) {
    if (!parse_size(s.substr(0, dots), &r.lo, error) || !parse_size(s.substr(dots + 2), &r.hi, error)) return false;
    if (r.lo > r.hi) {
      *error = "empty size range '" + s + "' (the lower bound is above the upper)";
      return false;
    }
    *out = r;
    return true;
  }
  static const char* ops[] = {">=", "<=", "==", ">", "<"};
  for (const char* op : ops) {
    size_t n = std::strlen(op);
    if (s.compare(0, n, op) != 0) continue;
    uint64_t v;
    if (!parse_size(s.substr(n), &v, error)) return false;
    std::string o(op);
    if (o == ">=") r.lo = v;
    else if (o == "<=") r.hi = v;
    else if (o == "==") r.lo = r.hi = v;
    else if (o == ">") {
      if (v == UINT64_MAX) { *error = "empty size range '" + s + "'"; return false; }
      r.lo = v + 1;
    } else {
      if (v == 0) { *error = "empty size range '" + s + "' (no size is below 0)"; return false; }
      r.hi = v - 1;
    }
    *out = r;
    return true;
  }
  uint64_t v;
  std::string e;
  if (parse_size(s, &v, &e)) {  // a bare size means exactly that size
    out->lo = out->hi = v;
    return true;
  }
  *error = "expected a size condition such as '>= 64MiB', '< 256', '== 4096' or '4KiB..1MiB', found '" + s + "'";
  return false;
}

uint32_t parse_api(const std::string& name) {
  if (name == "malloc") return kApiMalloc;
  if (name == "calloc") return kApiCalloc;
  if (name == "realloc") return kApiRealloc;
  if (name == "aligned") return kApiAligned;
  if (name == "new") return kApiNew;
  if (name == "mmap") return kApiMmap;
  return 0;
}

}  // namespace tiermalloc::policy
