// SPDX-License-Identifier: MIT
// interpose/stats.cpp -- statistics JSON at exit (TIERMALLOC_STATS, `%p` = pid).
//
// Per tier: allocations, frees, bytes requested, fallbacks out, placed mmap bytes, and the
// pages the kernel actually holds for the tier's arena, by node, read from
// /proc/self/numa_maps -- placement as the kernel sees it, not as we meant it.
// No allocation: a fixed buffer written with write(2); the file is created without
// following symlinks.
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "interpose/diag.hpp"
#include "interpose/runtime.hpp"

namespace tiermalloc::rt {
namespace {

class Out {
 public:
  explicit Out(int fd) : fd_(fd) {}
  ~Out() { flush(); }
  Out& s(const char* str) {
    while (*str) put(*str++);
    return *this;
  }
  Out& q(const char* str) {  // JSON string
    put('"');
    for (; *str; ++str) {
      unsigned char c = static_cast<unsigned char>(*str);
      if (c == '"' || c == '\\') { put('\\'); put(static_cast<char>(c)); }
      else if (c < 0x20) { s("\\u00"); put("0123456789abcdef"[c >> 4]); put("0123456789abcdef"[c & 15]); }
      else put(static_cast<char>(c));
    }
    put('"');
    return *this;
  }
  Out& u(uint64_t v) {
    char tmp[24];
    int n = 0;
    do { tmp[n++] = static_cast<char>('0' + v % 10); v /= 10; } while (v);
    while (n) put(tmp[--n]);
    return *this;
  }

 private:
  void put(char c) {
    if (len_ == sizeof buf_) flush();
    buf_[len_++] = c;
  }
  void flush() {
    size_t off = 0;
    while (off < len_) {
      long w = syscall(SYS_write, fd_, buf_ + off, len_ - off);
      if (w <= 0 && errno != EINTR) break;
      if (w > 0) off += static_cast<size_t>(w);
    }
    len_ = 0;
  }
  int fd_;
  char buf_[4096];
  size_t len_ = 0;
};

constexpr int kStatNodes = 64;
uint64_t g_resident[kMaxTiers][kStatNodes];

// Parses /proc/self/numa_maps: "ADDR policy ... N0=12 N1=40 kernelpagesize_kB=4".
void read_numa_maps() {
  std::memset(g_resident, 0, sizeof g_resident);
  int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/proc/self/numa_maps", O_RDONLY | O_CLOEXEC));
  if (fd < 0) return;
  static char buf[1 << 16];
  static char line[4096];
  size_t ll = 0;
  auto handle = [](const char* l) {
    uintptr_t addr = strtoull(l, nullptr, 16);
    if (addr - g_base >= g_total) return;
    unsigned tier = g_slot_tier[(addr - g_base) >> g_shift];
    uint64_t pagesize = 4096;
    if (const char* k = strstr(l, "kernelpagesize_kB=")) pagesize = strtoull(k + 18, nullptr, 10) * 1024;
    for (const char* p = l; (p = strstr(p, " N")) != nullptr; ++p) {
      char* end;
      unsigned long node = strtoul(p + 2, &end, 10);
      if (*end != '=' || node >= kStatNodes) continue;
      g_resident[tier][node] += strtoull(end + 1, nullptr, 10) * pagesize;
    }
  };
  for (;;) {
    long n = syscall(SYS_read, fd, buf, sizeof buf);
    if (n <= 0) break;
    for (long i = 0; i < n; ++i) {
      if (buf[i] == '\n' || ll == sizeof line - 1) {
        line[ll] = 0;
        handle(line);
        ll = 0;
      } else {
        line[ll++] = buf[i];
      }
    }
  }
  syscall(SYS_close, fd);
}

}  // namespace

void write_stats_at_exit() {
  if (getauxval(AT_SECURE)) return;
  const char* spec = getenv("TIERMALLOC_STATS");
  if (!spec || !*spec || g_total == 0) return;
  char path[4096];
  size_t n = 0;
  for (const char* p = spec; *p && n < sizeof path - 24; ++p) {
    if (p[0] == '%' && p[1] == 'p') {
      char tmp[24];
      int k = 0;
      for (long pid = getpid(); pid; pid /= 10) tmp[k++] = static_cast<char>('0' + pid % 10);
      while (k) path[n++] = tmp[--k];
      ++p;
    } else {
      path[n++] = *p;
    }
  }
  path[n] = 0;
  int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (fd < 0) {
    diag::Line l;
    l.s("cannot write statistics to ").s(path).s(" (errno ").i(errno).s(")");
    diag::emit(diag::kWarn, l);
    return;
  }
  uint64_t allocs[kMaxTiers] = {}, bytes[kMaxTiers] = {}, frees[kMaxTiers] = {};
  sum_threads(allocs, bytes, frees);
  // Frees are counted by slot on the hot path; fold view slots into their tiers.
  for (int slot = 0; slot < kMaxTiers; ++slot)
    if (g_slot_tier[slot] != slot) {
      frees[g_slot_tier[slot]] += frees[slot] + g_totals.frees[slot].load();
      frees[slot] = 0;
      g_totals.frees[slot].store(0);
    }
  read_numa_maps();
  const CompiledPolicy* pol = policy();
  char exe[4096];
  long el = syscall(SYS_readlink, "/proc/self/exe", exe, sizeof exe - 1);
  exe[el > 0 ? el : 0] = 0;
  {
    Out o(fd);
    o.s("{\"version\": 1, \"pid\": ").u(static_cast<uint64_t>(getpid())).s(", \"program\": ").q(exe);
    o.s(", \"policy\": ").q(pol ? pol->source : "").s(",\n \"tiers\": [");
    int ntiers = pol ? pol->ntiers : 1;
    for (int i = 0; i < ntiers; ++i) {
      const CompiledTier* t = pol ? &pol->tiers[i] : nullptr;
      uint64_t a = allocs[i] + g_totals.allocs[i].load(), b = bytes[i] + g_totals.bytes[i].load();
      uint64_t f = frees[i] + g_totals.frees[i].load();
      o.s(i ? ",\n  " : "\n  ").s("{\"name\": ").q(t ? t->name : "plain").s(", \"nodes\": [");
      bool first = true;
      for (int k = 0; t && k < kNodeWords * 64; ++k)
        if (t->nodes.test(k)) { o.s(first ? "" : ", ").u(static_cast<uint64_t>(k)); first = false; }
      bool transient = t && t->transient;
      o.s("], \"kind\": ").s(transient ? "\"transient\"" : "\"numa\"").s(", \"available\": ").s(!t || t->available ? "true" : "false");
      if (transient) {
        o.s(", \"path\": ").q(t->path).s(", \"is_pmem\": ").s(g_totals.is_pmem[i].load() ? "true" : "false");
        o.s(", \"file_bytes_live\": ").u(g_totals.file_live[i].load()).s(", \"file_bytes_peak\": ").u(g_totals.file_peak[i].load());
        o.s(", \"size\": ");
        if (t->transient_size) o.u(t->transient_size);
        else o.s("null");
        o.s(", \"fallbacks\": {\"budget\": ").u(g_totals.fallback_budget[i].load()).s(", \"no_space\": ").u(g_totals.fallback_no_space[i].load())
            .s(", \"alignment\": ").u(g_totals.fallback_alignment[i].load())
            .s(", \"table_full\": ").u(g_totals.fallback_table_full[i].load()).s("}");
      }
      o.s(", \"allocations\": ").u(a).s(", \"frees\": ").u(f).s(", \"bytes_allocated\": ").u(b);
      o.s(", \"fallbacks_out\": ").u(g_totals.fallbacks_out[i].load());
      o.s(", \"mmap_count\": ").u(g_totals.mmap_count[i].load()).s(", \"mmap_bytes_live\": ").u(g_totals.mmap_live[i].load());
      o.s(", \"limit\": ");
      if (t && t->limit) o.u(t->limit);
      else o.s("null");
      o.s(", \"resident_by_node\": {");
      first = true;
      for (int k = 0; k < kStatNodes; ++k)
        if (g_resident[i][k]) {
          o.s(first ? "\"" : ", \"").u(static_cast<uint64_t>(k)).s("\": ").u(g_resident[i][k]);
          first = false;
        }
      o.s("}}");
    }
    o.s("\n ],\n \"rules\": [");
    for (int i = 0; pol && i < pol->nrules; ++i)
      o.s(i ? ", " : "").s("{\"name\": ").q(pol->rules[i].name).s(", \"tier\": ").q(pol->tiers[pol->rules[i].tier].name).s("}");
    o.s("],\n \"sites\": []}\n");
  }
  syscall(SYS_close, fd);
}

}  // namespace tiermalloc::rt
