// SPDX-License-Identifier: MIT
// interpose/diag.cpp -- allocation-free, errno-neutral diagnostics by write(2).
#include "interpose/diag.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>

namespace tiermalloc::diag {
namespace {

constinit std::atomic<int> g_level{kWarn};
constinit std::atomic<int> g_fd{2};

void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    long w = syscall(SYS_write, fd, p, n);
    if (w <= 0) {
      if (w < 0 && errno == EINTR) continue;
      return;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

Line& Line::s(const char* str) {
  while (str && *str && len_ < sizeof buf_ - 1) buf_[len_++] = *str++;
  buf_[len_] = 0;
  return *this;
}

Line& Line::u(uint64_t v) {
  char tmp[24];
  int n = 0;
  do { tmp[n++] = static_cast<char>('0' + v % 10); v /= 10; } while (v);
  while (n > 0 && len_ < sizeof buf_ - 1) buf_[len_++] = tmp[--n];
  buf_[len_] = 0;
  return *this;
}

Line& Line::i(int64_t v) {
  if (v < 0) { s("-"); return u(static_cast<uint64_t>(-(v + 1)) + 1); }
  return u(static_cast<uint64_t>(v));
}

Line& Line::x(uint64_t v) {
  char tmp[20];
  int n = 0;
  do { tmp[n++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
  s("0x");
  while (n > 0 && len_ < sizeof buf_ - 1) buf_[len_++] = tmp[--n];
  buf_[len_] = 0;
  return *this;
}

void set_level(int l) { g_level.store(l, std::memory_order_relaxed); }
int level() { return g_level.load(std::memory_order_relaxed); }

void set_file(const char* path) {
  int saved = errno;
  int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (fd >= 0) g_fd.store(fd, std::memory_order_relaxed);
  errno = saved;
}

void emit(int l, const Line& line) {
  if (l > level()) return;
  int saved = errno;
  char out[600];
  static const char prefix[] = "tiermalloc: ";
  size_t n = 0;
  for (size_t k = 0; prefix[k]; ++k) out[n++] = prefix[k];
  for (size_t k = 0; k < line.size() && n < sizeof out - 1; ++k) out[n++] = line.data()[k];
  out[n++] = '\n';
  write_all(g_fd.load(std::memory_order_relaxed), out, n);
  errno = saved;
}

void emit(int l, const char* text) {
  Line line;
  line.s(text);
  emit(l, line);
}

void fatal(const char* text) {
  emit(kError, text);
  abort();
}

}  // namespace tiermalloc::diag
