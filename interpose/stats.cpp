// SPDX-License-Identifier: MIT
// interpose/stats.cpp -- statistics JSON (TIERMALLOC_STATS, `%p` = pid), at exit and on the
// dump signal; the profile JSON at exit (TIERMALLOC_PROFILE, for `tiermalloc record`).
//
// Per tier: allocations, frees, bytes requested, live and peak bytes, fallbacks out, placed
// mmap bytes, and the pages the kernel actually holds for the tier's arena, by node, read
// from /proc/self/numa_maps -- placement as the kernel sees it, not as we meant it.  Per
// rule and per call site: what track.cpp counted.  The timeline: track.cpp's samples.
// No allocation: a fixed buffer written with write(2).  Each file is written to a temporary
// name (O_EXCL, O_NOFOLLOW) and renamed over the path, so a reader never sees half a dump.
// One writer at a time (dump_lock).
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "interpose/diag.hpp"
#include "interpose/runtime.hpp"
#include "interpose/track.hpp"

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
  Out& hex(uint64_t v) {
    char tmp[20];
    int n = 0;
    do { tmp[n++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
    s("\"0x");
    while (n) put(tmp[--n]);
    put('"');
    return *this;
  }
  Out& fixed(uint64_t num, uint64_t den, int decimals) {  // num/den, rounded
    uint64_t scale = 1;
    for (int i = 0; i < decimals; ++i) scale *= 10;
    unsigned __int128 v = (static_cast<unsigned __int128>(num) * scale + den / 2) / den;
    u(static_cast<uint64_t>(v / scale)).s(".");
    uint64_t frac = static_cast<uint64_t>(v % scale);
    for (uint64_t d = scale / 10; d; d /= 10) put(static_cast<char>('0' + frac / d % 10));
    return *this;
  }
  Out& qn(const char* str) { return *str ? q(str) : s("null"); }  // string, or null if empty
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

const char* const kApiName[kApiCount] = {"malloc", "calloc", "realloc", "aligned", "new", "mmap"};

// `%p` becomes the pid.
void expand(const char* spec, char* path, size_t cap) {
  size_t n = 0;
  for (const char* p = spec; *p && n < cap - 24; ++p) {
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
}

// A temporary file next to path; rename_into() moves it over path (atomically replacing a
// previous dump).  -1 and a message on failure.
int open_temp(const char* path, char* tmp, size_t cap) {
  size_t n = strlen(path);
  if (n + 32 > cap) return -1;
  std::memcpy(tmp, path, n);
  std::memcpy(tmp + n, ".tmp-", 5);
  n += 5;
  char digits[24];
  int k = 0;
  for (long pid = getpid(); pid; pid /= 10) digits[k++] = static_cast<char>('0' + pid % 10);
  while (k) tmp[n++] = digits[--k];
  tmp[n] = 0;
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (fd >= 0) return fd;
    if (errno != EEXIST) break;
    syscall(SYS_unlinkat, AT_FDCWD, tmp, 0);  // left by a dump that was killed half-way
  }
  diag::Line l;
  l.s("cannot write statistics to ").s(path).s(" (errno ").i(errno).s(")");
  diag::emit(diag::kWarn, l);
  return -1;
}

void rename_into(int fd, const char* tmp, const char* path) {
  syscall(SYS_close, fd);
  if (syscall(SYS_renameat, AT_FDCWD, tmp, AT_FDCWD, path) != 0) {
    diag::Line l;
    l.s("cannot rename ").s(tmp).s(" to ").s(path).s(" (errno ").i(errno).s(")");
    diag::emit(diag::kWarn, l);
    syscall(SYS_unlinkat, AT_FDCWD, tmp, 0);
  }
}

// Sites read once per dump, before the tiers' counters (so that, for counts that only grow,
// the sum over sites never exceeds the tiers' sum).
struct SiteSnap {
  uint32_t idx;
  uint64_t allocs, frees, bytes, live, peak;
};
SiteSnap g_snap[kSiteStats];
Timeline g_tl;

int snapshot_sites() {
  if (!g_site_stats) return 0;
  uint32_t n = g_nsites.load(std::memory_order_acquire);
  int k = 0;
  auto add = [&k](uint32_t idx) {
    const SiteStat& s = g_site_stats[idx];
    if (!s.ready.load(std::memory_order_acquire)) return;
    SiteSnap& o = g_snap[k];
    o.idx = idx;
    o.allocs = s.allocs.load(std::memory_order_relaxed);
    o.frees = s.frees.load(std::memory_order_relaxed);
    o.bytes = s.bytes.load(std::memory_order_relaxed);
    o.live = s.live.load(std::memory_order_relaxed);
    o.peak = s.peak.load(std::memory_order_relaxed);
    if (o.allocs) ++k;
  };
  add(0);
  for (uint32_t i = 0; i < n && k < static_cast<int>(kSiteStats); ++i) {
    uint32_t idx = g_site_list[i].load(std::memory_order_acquire);
    if (idx) add(idx);
  }
  std::sort(g_snap, g_snap + k, [](const SiteSnap& a, const SiteSnap& b) {
    if (a.bytes != b.bytes) return a.bytes > b.bytes;
    if (a.allocs != b.allocs) return a.allocs > b.allocs;
    return a.idx < b.idx;
  });
  return k;
}

void site_head(Out& o, const SiteSnap& sn) {
  const SiteStat& s = g_site_stats[sn.idx];
  o.s("{\"module\": ").qn(s.module).s(", \"function\": ").qn(s.function).s(", \"offset\": ").hex(s.offset);
  o.s(", \"api\": ").q(kApiName[s.api.load(std::memory_order_relaxed) % kApiCount]);
  o.s(", \"allocations\": ").u(sn.allocs).s(", \"frees\": ").u(sn.frees).s(", \"bytes\": ").u(sn.bytes);
  o.s(", \"bytes_live\": ").u(sn.live).s(", \"bytes_peak\": ").u(sn.peak);
  const CompiledPolicy* pol = policy();
  int tier = s.tier.load(std::memory_order_relaxed), rule = s.rule.load(std::memory_order_relaxed);
  o.s(", \"tier\": ").q(pol && tier > 0 && tier < pol->ntiers ? pol->tiers[tier].name : "plain");
  o.s(", \"rule\": ");
  if (pol && rule >= 0 && rule < pol->nrules) o.q(pol->rules[rule].name);
  else o.s("null");
}

void program_path(char* exe, size_t cap) {
  long el = syscall(SYS_readlink, "/proc/self/exe", exe, cap - 1);
  exe[el > 0 ? el : 0] = 0;
}

void stats_body(Out& o, const char* reason) {
  int nsites = snapshot_sites();
  uint64_t allocs[kMaxTiers] = {}, bytes[kMaxTiers] = {}, frees[kMaxTiers] = {};
  sum_threads(allocs, bytes, frees);
  for (int i = 0; i < kMaxTiers; ++i) {
    allocs[i] += g_totals.allocs[i].load();
    bytes[i] += g_totals.bytes[i].load();
    frees[i] += g_totals.frees[i].load();
  }
  // Frees are counted by slot on the hot path; fold view slots into their tiers.
  for (int slot = 0; slot < kMaxTiers; ++slot)
    if (g_slot_tier[slot] != slot) {
      frees[g_slot_tier[slot]] += frees[slot];
      frees[slot] = 0;
    }
  read_numa_maps();
  const CompiledPolicy* pol = policy();
  char exe[4096];
  program_path(exe, sizeof exe);
  o.s("{\"version\": 1, \"pid\": ").u(static_cast<uint64_t>(getpid())).s(", \"program\": ").q(exe);
  o.s(", \"policy\": ").qn(pol ? pol->source : "").s(", \"reason\": ").q(reason);
  o.s(", \"elapsed_ms\": ").u(elapsed_ms()).s(",\n \"tiers\": [");
  int ntiers = pol ? pol->ntiers : 1;
  for (int i = 0; i < ntiers; ++i) {
    const CompiledTier* t = pol ? &pol->tiers[i] : nullptr;
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
    o.s(", \"bytes_live\": ").u(g_track_totals.live[i].load()).s(", \"bytes_peak\": ").u(g_track_totals.peak[i].load());
    o.s(", \"allocations\": ").u(allocs[i]).s(", \"frees\": ").u(frees[i]).s(", \"bytes\": ").u(bytes[i]);
    o.s(", \"bytes_allocated\": ").u(bytes[i]);
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
  for (int i = 0; pol && i < pol->nrules; ++i) {
    o.s(i ? ",\n  " : "\n  ").s("{\"name\": ").q(pol->rules[i].name).s(", \"matches\": ").u(g_track_totals.rule_matches[i].load());
    o.s(", \"bytes\": ").u(g_track_totals.rule_bytes[i].load()).s(", \"tier\": ").q(pol->tiers[pol->rules[i].tier].name).s("}");
  }
  o.s(pol && pol->nrules ? "\n ],\n \"sites\": [" : "],\n \"sites\": [");
  // Heap sites only (a profile also counts mappings, whose bytes are not the tiers').
  int shown = 0;
  for (int k = 0; k < nsites && shown < 1000; ++k) {
    if (g_site_stats[g_snap[k].idx].api.load(std::memory_order_relaxed) == api_index(kApiMmap)) continue;
    o.s(shown++ ? ",\n  " : "\n  ");
    site_head(o, g_snap[k]);
    o.s("}");
  }
  o.s(shown ? "\n ],\n" : "],\n");
  timeline_copy(&g_tl);
  o.s(" \"timeline\": {\"interval_ms\": ").u(g_tl.interval_ms).s(",\n  \"t_ms\": [");
  for (int k = 0; k < g_tl.n; ++k) o.s(k ? ", " : "").u(g_tl.t_ms[k]);
  o.s("],\n  \"tiers\": {");
  for (int i = 0; i < ntiers; ++i) {
    o.s(i ? ",\n   " : "\n   ").q(pol ? pol->tiers[i].name : "plain").s(": [");
    for (int k = 0; k < g_tl.n; ++k) o.s(k ? ", " : "").u(g_tl.live[k][i]);
    o.s("]");
  }
  o.s("}}}\n");
}

void profile_body(Out& o) {
  int nsites = snapshot_sites();
  char exe[4096];
  program_path(exe, sizeof exe);
  const TrackTotals& tt = g_track_totals;
  uint64_t peak = tt.proc_peak.load(), epoch = tt.epoch.load();
  o.s("{\"version\": 1, \"kind\": \"profile\", \"pid\": ").u(static_cast<uint64_t>(getpid())).s(", \"program\": ").q(exe);
  o.s(", \"elapsed_ms\": ").u(elapsed_ms()).s(", \"bytes_peak\": ").u(peak).s(",\n \"sites\": [");
  for (int k = 0; k < nsites; ++k) {
    const SiteSnap& sn = g_snap[k];
    const SiteStat& s = g_site_stats[sn.idx];
    o.s(k ? ",\n  " : "\n  ");
    site_head(o, sn);
    uint64_t mn = s.size_min.load(), mx = s.size_max.load();
    o.s(", \"size_min\": ").u(mn == UINT64_MAX ? 0 : mn).s(", \"size_max\": ").u(mx).s(", \"histogram\": [");
    bool first = true;
    for (int b = 0; b < kHistBuckets; ++b) {
      uint64_t c = s.hist[b].load();
      if (!c) continue;
      uint64_t lo = b ? uint64_t{1} << (b - 1) : 0, hi = b == 0 ? 0 : b == 64 ? UINT64_MAX : (uint64_t{1} << b) - 1;
      o.s(first ? "[" : ", [").u(lo).s(", ").u(hi).s(", ").u(c).s("]");
      first = false;
    }
    uint64_t ln = s.life_n.load();
    o.s("], \"lifetime_ms\": {\"mean\": ");
    if (ln) o.fixed(ticks_to_ns(s.life_sum.load()), ln * 1000000, 3).s(", \"max\": ").fixed(ticks_to_ns(s.life_max.load()), 1000000, 3);
    else o.s("null, \"max\": null");
    o.s("}, \"live_at_exit\": ").u(sn.allocs - sn.frees);
    uint64_t at_peak = s.epoch.load() == epoch ? s.at_peak.load() : s.live.load();
    o.s(", \"peak_share\": ").fixed(at_peak, peak ? peak : 1, 4).s("}");
  }
  o.s(nsites ? "\n ]}\n" : "]}\n");
}

}  // namespace

static bool g_final = false;  // the exit dump is written: a late signal must not replace it

// Whether statistics / a profile were asked for (and there is something to write): tested by
// write_stats_at_exit before calling write_stats / write_profile, so that a process that asked
// for neither (`true`) never runs those two, 4 KiB of code kept out of the one 64 KiB window
// of start-up text (interpose/text-hot.ld; issue 7).
inline bool stats_asked() { return g_stats_path[0] && g_total != 0; }
inline bool profile_asked() { return g_profile_path[0] && g_site_stats; }

void write_stats(const char* reason) {
  if (!stats_asked()) return;
  dump_lock();
  if (g_final) {
    dump_unlock();
    return;
  }
  g_final = std::strcmp(reason, "exit") == 0;
  char path[4096], tmp[4200];
  expand(g_stats_path, path, sizeof path);
  int fd = open_temp(path, tmp, sizeof tmp);
  if (fd >= 0) {
    {
      Out o(fd);
      stats_body(o, reason);
    }
    rename_into(fd, tmp, path);
  }
  dump_unlock();
}

void write_profile() {
  if (!profile_asked()) return;
  dump_lock();
  char path[4096], tmp[4200];
  expand(g_profile_path, path, sizeof path);
  int fd = open_temp(path, tmp, sizeof tmp);
  if (fd >= 0) {
    {
      Out o(fd);
      profile_body(o);
    }
    rename_into(fd, tmp, path);
  }
  dump_unlock();
}

void write_stats_at_exit() {
  if (stats_asked()) write_stats("exit");
  if (profile_asked()) write_profile();
}

}  // namespace tiermalloc::rt
