// SPDX-License-Identifier: MIT
// interpose/diag.hpp -- messages from inside the allocator: no allocation, no stdio, no
// locks, errno kept.  Every line starts with "tiermalloc: ".  Output goes to stderr, or to
// TIERMALLOC_LOG_FILE once the environment has been read.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tiermalloc::diag {

enum Level : int { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

/** Fixed-size line builder; silently truncates. */
class Line {
 public:
  Line& s(const char* str);
  Line& u(uint64_t v);
  Line& i(int64_t v);
  Line& x(uint64_t v);  // 0x-prefixed hex
  const char* data() const { return buf_; }
  size_t size() const { return len_; }

 private:
  char buf_[512];
  size_t len_ = 0;
};

void set_level(int level);
int level();
/** Opens TIERMALLOC_LOG_FILE (O_APPEND, O_NOFOLLOW); on failure output stays on stderr. */
void set_file(const char* path);
/** Writes "tiermalloc: <line>\n" if level <= the current level. */
void emit(int level, const Line& line);
void emit(int level, const char* text);
/** Writes and aborts: for states the allocator cannot continue from. */
[[noreturn]] void fatal(const char* text);

}  // namespace tiermalloc::diag
