// SPDX-License-Identifier: MIT
// tests/fuzz/json_fuzz.cpp -- libFuzzer target for the statistics/profile JSON reader that
// `tiermalloc report` and `suggest` use (cli/json.cpp): any input is accepted or refused with a
// "LINE:COL: ..." message, never a crash; what is accepted, written back out, reads the same.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli/json.hpp"

using tiermalloc::json::Value;

namespace {

void write(const Value& v, std::string* o) {
  switch (v.type) {
    case Value::Type::kNull: *o += "null"; break;
    case Value::Type::kBool: *o += v.boolean ? "true" : "false"; break;
    case Value::Type::kNumber: {
      char b[40];
      if (v.is_uint) std::snprintf(b, sizeof b, "%llu", static_cast<unsigned long long>(v.uint));
      else std::snprintf(b, sizeof b, "%.17g", v.number);
      *o += b;
      break;
    }
    case Value::Type::kString:
      *o += '"';
      for (unsigned char c : v.str) {
        if (c == '"' || c == '\\') { *o += '\\'; *o += static_cast<char>(c); }
        else if (c < 0x20) { char b[8]; std::snprintf(b, sizeof b, "\\u%04x", c); *o += b; }
        else *o += static_cast<char>(c);
      }
      *o += '"';
      break;
    case Value::Type::kArray:
      *o += '[';
      for (size_t i = 0; i < v.items.size(); ++i) { if (i) *o += ','; write(v.items[i], o); }
      *o += ']';
      break;
    case Value::Type::kObject:
      *o += '{';
      for (size_t i = 0; i < v.members.size(); ++i) {
        if (i) *o += ',';
        Value k;
        k.type = Value::Type::kString;
        k.str = v.members[i].first;
        write(k, o);
        *o += ':';
        write(v.members[i].second, o);
      }
      *o += '}';
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  Value v;
  std::string err;
  if (!tiermalloc::json::parse(text, &v, &err)) {
    // Refused: one "LINE:COL: message" line.
    if (err.empty() || err.find('\n') != std::string::npos || err.find(": ") == std::string::npos) std::abort();
    return 0;
  }
  std::string once, twice;
  write(v, &once);
  Value again;
  if (!tiermalloc::json::parse(once, &again, &err)) std::abort();
  write(again, &twice);
  if (once != twice) std::abort();
  return 0;
}
