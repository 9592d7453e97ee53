// SPDX-License-Identifier: MIT
// cli/common.cpp -- shared by report and suggest.
#include "cli/common.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace tiermalloc::cli {

void fail(const std::string& msg) {
  std::fprintf(stderr, "tiermalloc: %s\n", msg.c_str());
  std::exit(2);
}

json::Value load_json(const std::string& path, const std::string& cmd) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(cmd + ": cannot open '" + path + "': " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  json::Value v;
  std::string err;
  if (!json::parse(ss.str(), &v, &err)) fail(cmd + ": " + path + ":" + err);
  return v;
}

void Reader::bad(const json::Value& v, const std::string& what, const std::string& expected) const {
  fail(cmd + ": " + file + ":" + std::to_string(v.line) + ":" + std::to_string(v.col) + ": " + what + ": expected " + expected +
       ", found " + json::type_name(v.type));
}

uint64_t Reader::u64(const json::Value& obj, const char* key, const std::string& where, uint64_t def) const {
  const json::Value* v = obj.get(key);
  if (!v || v->is_null()) return def;
  if (!v->is_number() || !v->is_uint) {
    if (v->is_number())
      fail(cmd + ": " + file + ":" + std::to_string(v->line) + ":" + std::to_string(v->col) + ": " + where + "." + key +
           ": expected a non-negative integer, found " + std::to_string(v->number));
    bad(*v, where + "." + key, "a non-negative integer");
  }
  return v->uint;
}

double Reader::num(const json::Value& obj, const char* key, const std::string& where, double def) const {
  const json::Value* v = obj.get(key);
  if (!v || v->is_null()) return def;
  if (!v->is_number()) bad(*v, where + "." + key, "a number");
  return v->number;
}

std::string Reader::str(const json::Value& obj, const char* key, const std::string& where, const std::string& def) const {
  const json::Value* v = obj.get(key);
  if (!v || v->is_null()) return def;
  if (!v->is_string()) bad(*v, where + "." + key, "a string");
  return v->str;
}

bool Reader::has_str(const json::Value& obj, const char* key) const {
  const json::Value* v = obj.get(key);
  return v && v->is_string();
}

const json::Value& Reader::array(const json::Value& obj, const char* key, const std::string& where, bool required) const {
  static const json::Value empty = [] {
    json::Value e;
    e.type = json::Value::Type::kArray;
    return e;
  }();
  const json::Value* v = obj.get(key);
  if (!v || (v->is_null() && !required)) {
    if (required) fail(cmd + ": " + file + ":" + std::to_string(obj.line) + ":" + std::to_string(obj.col) + ": " + where +
                       ": missing \"" + key + "\" (expected an array)");
    return empty;
  }
  if (!v->is_array()) bad(*v, where + "." + key, "an array");
  return *v;
}

const json::Value& Reader::object(const json::Value& obj, const char* key, const std::string& where, bool required) const {
  static const json::Value empty = [] {
    json::Value e;
    e.type = json::Value::Type::kObject;
    return e;
  }();
  const json::Value* v = obj.get(key);
  if (!v || (v->is_null() && !required)) {
    if (required) fail(cmd + ": " + file + ":" + std::to_string(obj.line) + ":" + std::to_string(obj.col) + ": " + where +
                       ": missing \"" + key + "\" (expected an object)");
    return empty;
  }
  if (!v->is_object()) bad(*v, where + "." + key, "an object");
  return *v;
}

std::string human_bytes(uint64_t v) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (v < 1024) return std::to_string(v) + " B";
  double d = static_cast<double>(v);
  int u = 0;
  while (d >= 1024 && u < 5) {
    d /= 1024;
    ++u;
  }
  char b[32];
  std::snprintf(b, sizeof b, "%.1f %s", d, units[u]);
  return b;
}

std::string grouped(uint64_t v) {
  std::string s = std::to_string(v), o;
  int n = static_cast<int>(s.size());
  for (int i = 0; i < n; ++i) {
    if (i && (n - i) % 3 == 0) o += ',';
    o += s[static_cast<size_t>(i)];
  }
  return o;
}

std::string policy_size(uint64_t v) {
  static const char* units[] = {"", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (u < 4 && v >= 1024 && v % 1024 == 0) {
    v /= 1024;
    ++u;
  }
  return std::to_string(v) + units[u];
}

std::string printable(const std::string& s) {
  std::string o = s;
  for (char& c : o)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return o;
}

}  // namespace tiermalloc::cli
