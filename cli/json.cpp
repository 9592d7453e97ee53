// SPDX-License-Identifier: MIT
// cli/json.cpp -- the strict JSON reader: recursive descent with a depth bound.
#include "cli/json.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unordered_set>

namespace tiermalloc::json {

const Value* Value::get(std::string_view key) const {
  for (const auto& m : members)
    if (m.first == key) return &m.second;
  return nullptr;
}

const char* type_name(Value::Type t) {
  switch (t) {
    case Value::Type::kNull: return "null";
    case Value::Type::kBool: return "a boolean";
    case Value::Type::kNumber: return "a number";
    case Value::Type::kString: return "a string";
    case Value::Type::kArray: return "an array";
    case Value::Type::kObject: return "an object";
  }
  return "?";
}

namespace {

class Parser {
 public:
  explicit Parser(std::string_view t) : t_(t) {}

  bool run(Value* out, std::string* error) {
    ws();
    if (!value(out, 0)) {
      *error = err_;
      return false;
    }
    ws();
    if (p_ < t_.size()) {
      fail("unexpected '" + shown(t_[p_]) + "' after the end of the document");
      *error = err_;
      return false;
    }
    return true;
  }

 private:
  std::string_view t_;
  size_t p_ = 0;
  int line_ = 1;
  size_t line_start_ = 0;
  std::string err_;

  int col() const { return static_cast<int>(p_ - line_start_) + 1; }

  static std::string shown(char c) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", u);
      return b;
    }
    return std::string(1, c);
  }

  bool fail(const std::string& msg) {
    if (err_.empty()) err_ = std::to_string(line_) + ":" + std::to_string(col()) + ": " + msg;
    return false;
  }

  void ws() {
    while (p_ < t_.size()) {
      char c = t_[p_];
      if (c == '\n') {
        ++p_;
        ++line_;
        line_start_ = p_;
      } else if (c == ' ' || c == '\t' || c == '\r') {
        ++p_;
      } else {
        break;
      }
    }
  }

  bool literal(const char* word) {
    size_t n = std::char_traits<char>::length(word);
    if (t_.substr(p_, n) != word) return fail(std::string("expected '") + word + "'");
    p_ += n;
    return true;
  }

  bool value(Value* v, int depth) {
    if (depth > kMaxDepth) return fail("nesting deeper than " + std::to_string(kMaxDepth) + " levels");
    if (p_ >= t_.size()) return fail("unexpected end of file (expected a value)");
    v->line = line_;
    v->col = col();
    char c = t_[p_];
    switch (c) {
      case '{': return object(v, depth);
      case '[': return array(v, depth);
      case '"': v->type = Value::Type::kString; return string(&v->str);
      case 't': v->type = Value::Type::kBool; v->boolean = true; return literal("true");
      case 'f': v->type = Value::Type::kBool; v->boolean = false; return literal("false");
      case 'n': v->type = Value::Type::kNull; return literal("null");
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return number(v);
        return fail("unexpected '" + shown(c) + "' (expected a value: object, array, string, number, true, false or null)");
    }
  }

  bool object(Value* v, int depth) {
    v->type = Value::Type::kObject;
    ++p_;
    ws();
    if (p_ < t_.size() && t_[p_] == '}') {
      ++p_;
      return true;
    }
    std::unordered_set<std::string> seen;
    for (;;) {
      ws();
      if (p_ >= t_.size()) return fail("unexpected end of file (expected '\"' to start a key)");
      if (t_[p_] != '"') return fail("unexpected '" + shown(t_[p_]) + "' (expected '\"' to start a key)");
      int kl = line_, kc = col();
      std::string key;
      if (!string(&key)) return false;
      if (!seen.insert(key).second) {
        err_ = std::to_string(kl) + ":" + std::to_string(kc) + ": duplicate key \"" + key + "\"";
        return false;
      }
      ws();
      if (p_ >= t_.size() || t_[p_] != ':')
        return fail(p_ >= t_.size() ? "unexpected end of file (expected ':')" : "unexpected '" + shown(t_[p_]) + "' (expected ':')");
      ++p_;
      ws();
      v->members.push_back({std::move(key), Value{}});
      if (!value(&v->members.back().second, depth + 1)) return false;
      ws();
      if (p_ >= t_.size()) return fail("unexpected end of file (expected ',' or '}')");
      if (t_[p_] == ',') {
        ++p_;
        continue;
      }
      if (t_[p_] == '}') {
        ++p_;
        return true;
      }
      return fail("unexpected '" + shown(t_[p_]) + "' (expected ',' or '}')");
    }
  }

  bool array(Value* v, int depth) {
    v->type = Value::Type::kArray;
    ++p_;
    ws();
    if (p_ < t_.size() && t_[p_] == ']') {
      ++p_;
      return true;
    }
    for (;;) {
      ws();
      v->items.emplace_back();
      if (!value(&v->items.back(), depth + 1)) return false;
      ws();
      if (p_ >= t_.size()) return fail("unexpected end of file (expected ',' or ']')");
      if (t_[p_] == ',') {
        ++p_;
        continue;
      }
      if (t_[p_] == ']') {
        ++p_;
        return true;
      }
      return fail("unexpected '" + shown(t_[p_]) + "' (expected ',' or ']')");
    }
  }

  static void utf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      *out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      *out += static_cast<char>(0xc0 | (cp >> 6));
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      *out += static_cast<char>(0xe0 | (cp >> 12));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      *out += static_cast<char>(0xf0 | (cp >> 18));
      *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  bool hex4(uint32_t* out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      if (p_ >= t_.size()) return fail("unexpected end of file in a \\u escape");
      char c = t_[p_];
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) return fail("unexpected '" + shown(c) + "' in a \\u escape (expected 4 hex digits)");
      v = v * 16 + static_cast<uint32_t>(d);
      ++p_;
    }
    *out = v;
    return true;
  }

  bool string(std::string* out) {
    ++p_;  // the opening quote
    for (;;) {
      if (p_ >= t_.size()) return fail("unexpected end of file in a string (expected '\"')");
      char c = t_[p_];
      if (c == '"') {
        ++p_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20)
        return fail("control character " + shown(c) + " in a string (expected it escaped)");
      if (c != '\\') {
        *out += c;
        ++p_;
        continue;
      }
      ++p_;
      if (p_ >= t_.size()) return fail("unexpected end of file in a string escape");
      char e = t_[p_++];
      switch (e) {
        case '"': *out += '"'; break;
        case '\\': *out += '\\'; break;
        case '/': *out += '/'; break;
        case 'b': *out += '\b'; break;
        case 'f': *out += '\f'; break;
        case 'n': *out += '\n'; break;
        case 'r': *out += '\r'; break;
        case 't': *out += '\t'; break;
        case 'u': {
          uint32_t cp;
          if (!hex4(&cp)) return false;
          if (cp >= 0xdc00 && cp <= 0xdfff) return fail("lone low surrogate in a \\u escape");
          if (cp >= 0xd800 && cp <= 0xdbff) {
            uint32_t lo;
            if (t_.substr(p_, 2) != "\\u") return fail("high surrogate not followed by a \\u low surrogate");
            p_ += 2;
            if (!hex4(&lo)) return false;
            if (lo < 0xdc00 || lo > 0xdfff) return fail("high surrogate not followed by a low surrogate");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          }
          utf8(cp, out);
          break;
        }
        default:
          p_ -= 2;  // at the backslash
          return fail("unknown escape '\\" + shown(e) + "' (expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
      }
    }
  }

  bool number(Value* v) {
    v->type = Value::Type::kNumber;
    size_t start = p_;
    bool neg = false, integral = true;
    if (t_[p_] == '-') {
      neg = true;
      ++p_;
    }
    auto digit = [&] { return p_ < t_.size() && t_[p_] >= '0' && t_[p_] <= '9'; };
    if (!digit()) return fail("expected a digit");
    if (t_[p_] == '0') {
      ++p_;
      if (digit()) return fail("leading zero in a number");
    } else {
      while (digit()) ++p_;
    }
    if (p_ < t_.size() && t_[p_] == '.') {
      integral = false;
      ++p_;
      if (!digit()) return fail("expected a digit after '.'");
      while (digit()) ++p_;
    }
    if (p_ < t_.size() && (t_[p_] == 'e' || t_[p_] == 'E')) {
      integral = false;
      ++p_;
      if (p_ < t_.size() && (t_[p_] == '+' || t_[p_] == '-')) ++p_;
      if (!digit()) return fail("expected a digit in the exponent");
      while (digit()) ++p_;
    }
    std::string text(t_.substr(start, p_ - start));
    v->number = std::strtod(text.c_str(), nullptr);
    if (!std::isfinite(v->number)) {
      p_ = start;
      return fail("number out of range");
    }
    if (integral && !neg) {
      uint64_t u = 0;
      bool fits = true;
      for (char c : text) {
        uint64_t d = static_cast<uint64_t>(c - '0');
        if (u > (UINT64_MAX - d) / 10) {
          fits = false;
          break;
        }
        u = u * 10 + d;
      }
      v->is_uint = fits;
      v->uint = fits ? u : 0;
    }
    return true;
  }
};

}  // namespace

bool parse(std::string_view text, Value* out, std::string* error) {
  *out = Value{};
  Parser p(text);
  return p.run(out, error);
}

}  // namespace tiermalloc::json
