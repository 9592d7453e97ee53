// SPDX-License-Identifier: MIT
// interpose/track.cpp -- what statistics and profiles need to know about each block, and the
// statistics thread (timeline, dumps on a signal).
//
// Only with TIERMALLOC_STATS or TIERMALLOC_PROFILE set.  Then every allocation and free
// takes the slow path (see g_track in runtime.hpp), which
//  - records the block in a table keyed by address (64 shards, each a spin lock and a
//    linear-probing table that doubles when half full, in memory of our own mappings),
//  - counts it at its call site (a fixed table of return addresses, each named once with
//    the same module/symbol the policy's rules match) and on its tier: atomics, so a dump
//    can be read while threads run.
// A profile (TIERMALLOC_PROFILE) also times each block's life and keeps each site's size
// histogram and its live bytes at the moment of the process's peak (an epoch counter: a
// site remembers its live bytes when it first changes after a new peak).
//
// The statistics thread (TIERMALLOC_STATS only) samples each tier's live bytes every
// TIERMALLOC_STATS_INTERVAL_MS (default 100) into a bounded timeline, and writes the
// statistics file when the dump signal (TIERMALLOC_STATS_SIGNAL, default SIGUSR2) wakes it:
// the signal handler only stores a flag and wakes the thread (futex), which is
// async-signal-safe.  The thread blocks every signal, is restarted in a forked child at
// its first allocation, and ends when it finds itself the last thread (a program whose
// main called pthread_exit), so it never keeps a process alive.
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "interpose/diag.hpp"
#include "interpose/track.hpp"
#include "policy/callsite.hpp"

extern "C" void* tiermalloc_sys_mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off);
extern "C" int tiermalloc_sys_munmap(void* addr, size_t len);

namespace tiermalloc::rt {

bool g_track = false;
bool g_profile = false;
TrackTotals g_track_totals;
SiteStat* g_site_stats = nullptr;
std::atomic<uint32_t> g_nsites{0};
std::atomic<uint32_t>* g_site_list = nullptr;
uint64_t g_start_ns = 0;
char g_stats_path[4096];
char g_profile_path[4096];

uint64_t g_start_ticks = 0;

uint64_t ticks() {
#if defined(__x86_64__)
  return __builtin_ia32_rdtsc();  // ~10x cheaper than clock_gettime in a VM
#else
  return now_ns();
#endif
}

uint64_t ticks_to_ns(uint64_t t) {
#if defined(__x86_64__)
  uint64_t dt = ticks() - g_start_ticks, dn = now_ns() - g_start_ns;
  return dt ? static_cast<uint64_t>(static_cast<unsigned __int128>(t) * dn / dt) : t;
#else
  return t;
#endif
}

uint64_t now_ns() {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1000000000u + static_cast<uint64_t>(t.tv_nsec);
}

namespace {

struct Spin {
  std::atomic<bool> held{false};
  void lock() {
    while (held.exchange(true, std::memory_order_acquire)) sched_yield();
  }
  void unlock() { held.store(false, std::memory_order_release); }
};

void* map_zeroed(size_t bytes) {
  void* m = tiermalloc_sys_mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return m == MAP_FAILED ? nullptr : m;
}

void atomic_max(std::atomic<uint64_t>& a, uint64_t v) {
  uint64_t cur = a.load(std::memory_order_relaxed);
  while (v > cur && !a.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
  }
}
void atomic_min(std::atomic<uint64_t>& a, uint64_t v) {
  uint64_t cur = a.load(std::memory_order_relaxed);
  while (v < cur && !a.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
  }
}

// ---- call sites --------------------------------------------------------------------------

static_assert((kSiteStats & (kSiteStats - 1)) == 0, "a power of two");
uint32_t site_slot(uintptr_t ra) {
  return static_cast<uint32_t>((ra * 0x9E3779B97F4A7C15ull) >> 40) & (kSiteStats - 1);
}

void name_site(SiteStat& s, uintptr_t ra) {
  policy::SiteName name;
  if (policy::resolve_site(ra, &name)) {
    std::strncpy(s.module, policy::base_name(name.module), sizeof s.module - 1);
    std::strncpy(s.function, name.symbol, sizeof s.function - 1);
    s.offset = name.offset;
  } else {
    s.offset = ra;
  }
}

void claim(uint32_t idx) {
  uint32_t k = g_nsites.fetch_add(1, std::memory_order_acq_rel);
  g_site_list[k].store(idx, std::memory_order_release);
}

// The site stats entry of ra (claimed and named on first sight); slot 0 when the table is
// full or the site cannot be named now.
uint32_t site_of(uintptr_t ra, uint32_t api) {
  SiteStat* tab = g_site_stats;
  uint32_t h = site_slot(ra);
  for (uint32_t i = 0; i < 128; ++i) {
    uint32_t idx = (h + i) & (kSiteStats - 1);
    if (idx == 0) continue;  // "(other)"
    SiteStat& s = tab[idx];
    uintptr_t k = s.ra.load(std::memory_order_acquire);
    if (k == ra) return idx;
    if (k != 0) continue;
    ThreadState& ts = t_state;
    if (ts.in_resolve) return 0;  // an allocation made while naming a site
    uintptr_t expected = 0;
    if (!s.ra.compare_exchange_strong(expected, ra, std::memory_order_acq_rel)) {
      if (expected == ra) return idx;
      continue;
    }
    s.api.store(static_cast<uint8_t>(api_index(api)), std::memory_order_relaxed);
    s.size_min.store(UINT64_MAX, std::memory_order_relaxed);
    s.rule.store(-1, std::memory_order_relaxed);
    ts.in_resolve++;
    name_site(s, ra);
    ts.in_resolve--;
    s.ready.store(1, std::memory_order_release);
    claim(idx);
    return idx;
  }
  return 0;
}

// ---- blocks: address -> record --------------------------------------------------------
struct Rec {
  uintptr_t p;  // 0: empty
  uint64_t size;
  uint64_t t;
  uint32_t site;
  uint8_t tier;
};
struct alignas(64) Shard {
  Spin lock;
  Rec* tab;
  size_t mask;
  size_t n;
};
constexpr int kShards = 64;
constinit Shard g_shards[kShards];  // constinit: no start-up code writing its 64 locks (two pages, issue 7)

inline uint64_t mix(uintptr_t p) {
  uint64_t h = (p >> 4) * 0x9E3779B97F4A7C15ull;
  return h ^ (h >> 31);
}
inline Shard& shard_of(uintptr_t p) { return g_shards[(((p >> 4) * 0xC2B2AE3D27D4EB4Full) >> 58) & (kShards - 1)]; }

bool grow(Shard& s) {
  size_t cap = s.tab ? (s.mask + 1) * 2 : 1024;
  Rec* t = static_cast<Rec*>(map_zeroed(cap * sizeof(Rec)));
  if (!t) return false;
  if (s.tab) {
    for (size_t i = 0; i <= s.mask; ++i)
      if (s.tab[i].p) {
        size_t j = mix(s.tab[i].p) & (cap - 1);
        while (t[j].p) j = (j + 1) & (cap - 1);
        t[j] = s.tab[i];
      }
    tiermalloc_sys_munmap(s.tab, (s.mask + 1) * sizeof(Rec));
  }
  s.tab = t;
  s.mask = cap - 1;
  return true;
}

void insert(const Rec& r) {
  Shard& s = shard_of(r.p);
  s.lock.lock();
  if ((!s.tab || (s.n + 1) * 2 > s.mask + 1) && !grow(s) && (!s.tab || s.n == s.mask)) {
    s.lock.unlock();  // out of memory for the table: the block goes uncounted
    return;
  }
  size_t j = mix(r.p) & s.mask;
  while (s.tab[j].p && s.tab[j].p != r.p) j = (j + 1) & s.mask;
  if (!s.tab[j].p) s.n++;
  s.tab[j] = r;
  s.lock.unlock();
}

bool take(uintptr_t p, Rec* out) {
  Shard& s = shard_of(p);
  s.lock.lock();
  if (!s.tab) {
    s.lock.unlock();
    return false;
  }
  size_t i = mix(p) & s.mask;
  while (s.tab[i].p != p) {
    if (!s.tab[i].p) {
      s.lock.unlock();
      return false;
    }
    i = (i + 1) & s.mask;
  }
  *out = s.tab[i];
  // Backward-shift deletion: no tombstones, probe sequences stay short.
  for (size_t j = i;;) {
    j = (j + 1) & s.mask;
    if (!s.tab[j].p) break;
    size_t k = mix(s.tab[j].p) & s.mask;
    bool movable = (j > i) ? (k <= i || k > j) : (k <= i && k > j);
    if (movable) {
      s.tab[i] = s.tab[j];
      i = j;
    }
  }
  s.tab[i].p = 0;
  s.n--;
  s.lock.unlock();
  return true;
}

inline int hist_bucket(uint64_t size) { return size ? 64 - __builtin_clzll(size) : 0; }

// A site's live bytes change: first remember them as of the latest process peak.
inline void touch_epoch(SiteStat& s) {
  uint64_t e = g_track_totals.epoch.load(std::memory_order_relaxed);
  if (s.epoch.load(std::memory_order_relaxed) != e) {
    s.at_peak.store(s.live.load(std::memory_order_relaxed), std::memory_order_relaxed);
    s.epoch.store(e, std::memory_order_relaxed);
  }
}

// ---- timeline, statistics thread, signal ---------------------------------------------------
Spin g_timeline_lock;
Timeline g_timeline;
Spin g_dump;
std::atomic<int> g_wake{0};       // 1: a dump was asked for
std::atomic<bool> g_sampler_running{false};
std::atomic<bool> g_sampler_restart{false};
bool g_timeline_on = false;
int g_ntiers = 1;

void take_sample(Timeline& tl, uint32_t t) {
  if (tl.n == kTimelineMax) {  // full: halve the resolution
    int k = 0;
    for (int i = 0; i < tl.n; i += 2, ++k) {
      tl.t_ms[k] = tl.t_ms[i];
      std::memcpy(tl.live[k], tl.live[i], sizeof tl.live[k]);
    }
    tl.n = k;
    tl.interval_ms *= 2;
  }
  tl.t_ms[tl.n] = t;
  for (int i = 0; i < kMaxTiers; ++i) tl.live[tl.n][i] = g_track_totals.live[i].load(std::memory_order_relaxed);
  tl.n++;
}

long futex(std::atomic<int>* addr, int op, int val, const struct timespec* ts) {
  return syscall(SYS_futex, reinterpret_cast<int*>(addr), op, val, ts, nullptr, 0);
}

void on_dump_signal(int) {
  int saved = errno;
  g_wake.store(1, std::memory_order_release);
  futex(&g_wake, FUTEX_WAKE_PRIVATE, 1, nullptr);
  errno = saved;
}

// True when every other thread of the process has ended (the main thread called
// pthread_exit and is a zombie): then this thread must end too, or the process lives on.
bool last_thread() {
  char buf[512];
  int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/proc/self/stat", O_RDONLY | O_CLOEXEC));
  if (fd < 0) return false;
  long n = syscall(SYS_read, fd, buf, sizeof buf - 1);
  syscall(SYS_close, fd);
  if (n <= 0) return false;
  buf[n] = 0;
  const char* p = strrchr(buf, ')');  // after the command name: " S ppid ..."
  if (!p) return false;
  // Field 20 (num_threads) is the 18th after ')'; the state is the first.
  int field = 0;
  long threads = 0;
  for (const char* q = p + 1; *q; ++q)
    if (*q == ' ') {
      ++field;
      if (field == 18) threads = strtol(q + 1, nullptr, 10);
    }
  if (threads > 2) return false;
  if (threads == 1) return true;
  if (threads < 1) return false;  // not parsed
  // Two: us and the main thread, which may have exited (state Z) while we run.
  char path[64] = "/proc/self/task/";
  char num[24];
  int k = 0;
  for (long pid = getpid(); pid; pid /= 10) num[k++] = static_cast<char>('0' + pid % 10);
  size_t len = strlen(path);
  while (k) path[len++] = num[--k];
  std::memcpy(path + len, "/stat", 6);
  fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC));
  if (fd < 0) return false;
  n = syscall(SYS_read, fd, buf, sizeof buf - 1);
  syscall(SYS_close, fd);
  if (n <= 0) return false;
  buf[n] = 0;
  p = strrchr(buf, ')');
  return p && p[1] == ' ' && p[2] == 'Z';
}

void* sampler(void*) {
  prctl(PR_SET_NAME, "tiermalloc-stat", 0, 0, 0);
  uint64_t last = 0;
  bool first = true;
  for (;;) {
    uint32_t interval = __atomic_load_n(&g_timeline.interval_ms, __ATOMIC_RELAXED);
    if (!first) {
      struct timespec ts{static_cast<time_t>(interval / 1000), static_cast<long>(interval % 1000) * 1000000};
      if (g_wake.load(std::memory_order_acquire) == 0) futex(&g_wake, FUTEX_WAIT_PRIVATE, 0, &ts);
    }
    if (g_wake.exchange(0, std::memory_order_acq_rel)) write_stats("signal");
    uint64_t now = elapsed_ms();
    if (g_timeline_on && (first || now - last >= interval)) {
      g_timeline_lock.lock();
      take_sample(g_timeline, static_cast<uint32_t>(now));
      g_timeline_lock.unlock();
      last = now;
    }
    first = false;
    if (last_thread()) break;
  }
  g_sampler_running.store(false, std::memory_order_release);
  return nullptr;
}

void start_sampler() {
  if (g_sampler_running.exchange(true, std::memory_order_acq_rel)) return;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);  // the thread inherits it: no program signal lands there
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_t th;
  int rc = pthread_create(&th, &attr, sampler, nullptr);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (rc != 0) {
    g_sampler_running.store(false, std::memory_order_release);
    diag::emit(diag::kWarn, "TIERMALLOC_STATS: cannot start the statistics thread; no timeline, no dumps on signal");
  }
}

// Shard, timeline and dump locks around fork: the child finds them free and the tables whole.
// Registered after boot.cpp's handlers, so this prepare runs first (the dump lock is taken
// before the registry lock, in the same order as a dump takes them).
void fork_prepare() {
  g_dump.lock();
  g_timeline_lock.lock();
  for (auto& s : g_shards) s.lock.lock();
}
void fork_parent() {
  for (auto& s : g_shards) s.lock.unlock();
  g_timeline_lock.unlock();
  g_dump.unlock();
}
void fork_child() {
  fork_parent();
  // The statistics thread did not come along: its first allocation restarts it.
  if (g_sampler_running.exchange(false, std::memory_order_relaxed)) g_sampler_restart.store(true, std::memory_order_relaxed);
}

int parse_signal(const char* v) {
  if (!v || !*v) return SIGUSR2;
  if (!strcmp(v, "0") || !strcmp(v, "none") || !strcmp(v, "off")) return 0;
  if (!strncmp(v, "SIG", 3)) v += 3;
  if (!strcmp(v, "USR2")) return SIGUSR2;
  if (!strcmp(v, "USR1")) return SIGUSR1;
  if (!strcmp(v, "PROF")) return SIGPROF;
  if (!strcmp(v, "WINCH")) return SIGWINCH;
  if (!strcmp(v, "URG")) return SIGURG;
  char* end;
  long n = strtol(v, &end, 10);
  if (*end == 0 && n > 0 && n < NSIG && n != SIGKILL && n != SIGSTOP) return static_cast<int>(n);
  if (!strncmp(v, "RTMIN+", 6)) {
    n = strtol(v + 6, &end, 10);
    if (*end == 0 && n >= 0 && SIGRTMIN + n <= SIGRTMAX) return static_cast<int>(SIGRTMIN + n);
  }
  return -1;
}

void install_signal(const char* spec) {
  int sig = parse_signal(spec);
  if (sig < 0) {
    diag::emit(diag::kWarn, "TIERMALLOC_STATS_SIGNAL: expected a signal name (USR2, USR1, RTMIN+N), a number, or none; using USR2");
    sig = SIGUSR2;
  }
  if (sig == 0) return;
  struct sigaction old;
  if (sigaction(sig, nullptr, &old) != 0) return;
  if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) {
    // The program (or its parent, for SIG_IGN) has a use for this signal: leave it alone.
    diag::Line l;
    l.s("TIERMALLOC_STATS: signal ").i(sig).s(" already has a handler or is ignored; no statistics dumps on it "
                                              "(choose another with TIERMALLOC_STATS_SIGNAL)");
    diag::emit(diag::kInfo, l);
    return;
  }
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_dump_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, nullptr);
}

const char* env(const char* name) { return getauxval(AT_SECURE) ? nullptr : getenv(name); }

// A relative path is taken from the directory at start-up: a program that changes directory
// still finds its statistics where it was started.
void absolute(const char* path, char* out, size_t cap) {
  size_t n = 0;
  if (path[0] != '/' && getcwd(out, cap - 2)) {
    n = strlen(out);
    out[n++] = '/';
  }
  size_t k = strlen(path);
  if (n + k >= cap) n = 0;  // too long: as given
  std::memcpy(out + n, path, k < cap - 1 ? k : cap - 1);
  out[n + (k < cap - 1 ? k : cap - 1)] = 0;
}

}  // namespace

void start_stats_thread();

void dump_lock() { g_dump.lock(); }
void dump_unlock() { g_dump.unlock(); }

void timeline_copy(Timeline* out) {
  g_timeline_lock.lock();
  std::memcpy(out, &g_timeline, sizeof *out);
  g_timeline_lock.unlock();
  if (g_timeline_on) take_sample(*out, static_cast<uint32_t>(elapsed_ms()));
  else out->n = 0;
}

void track_start() {
  g_start_ns = now_ns();
  g_start_ticks = ticks();
  const char* stats = env("TIERMALLOC_STATS");
  const char* prof = env("TIERMALLOC_PROFILE");
  bool want_stats = stats && *stats;
  g_profile = prof && *prof;
  if (!want_stats && !g_profile) return;
  if (want_stats) absolute(stats, g_stats_path, sizeof g_stats_path);
  if (g_profile) absolute(prof, g_profile_path, sizeof g_profile_path);
  g_site_stats = static_cast<SiteStat*>(map_zeroed(kSiteStats * sizeof(SiteStat)));
  g_site_list = static_cast<std::atomic<uint32_t>*>(map_zeroed(kSiteStats * sizeof(uint32_t)));
  if (!g_site_stats || !g_site_list) {
    diag::emit(diag::kWarn, "TIERMALLOC_STATS/PROFILE: no memory for the call-site table; statistics are not collected");
    g_stats_path[0] = 0;  // no file: without tracking, the hot path counts nothing
    g_profile_path[0] = 0;
    g_profile = false;
    return;
  }
  std::strcpy(g_site_stats[0].module, "(other)");
  g_site_stats[0].ra.store(1, std::memory_order_relaxed);
  g_site_stats[0].ready.store(1, std::memory_order_relaxed);
  g_site_stats[0].size_min.store(UINT64_MAX, std::memory_order_relaxed);
  g_site_stats[0].rule.store(-1, std::memory_order_relaxed);
  const CompiledPolicy* pol = policy();
  g_ntiers = pol ? pol->ntiers : 1;
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  if (want_stats) {
    start_stats_thread();  // first: what pthread_create allocates is not the program's
  }
  // Blocks allocated so far are not in the table: count from here, on every thread.
  reset_thread_counters();
  clear_thread_caches();
  g_free_total = 0;
  g_track = true;
}

void start_stats_thread() {
  uint32_t interval = 100;
  if (const char* iv = env("TIERMALLOC_STATS_INTERVAL_MS")) {
    char* end;
    long v = strtol(iv, &end, 10);
    if (end == iv || *end || v < 0 || v > 3600000) {
      diag::emit(diag::kWarn, "TIERMALLOC_STATS_INTERVAL_MS: expected milliseconds (0 to 3600000, 0: no timeline); using 100");
    } else {
      interval = static_cast<uint32_t>(v);
    }
  }
  g_timeline_on = interval > 0;
  g_timeline.interval_ms = interval > 0 ? interval : 1000;
  install_signal(env("TIERMALLOC_STATS_SIGNAL"));
  start_sampler();
}

void track_poll() {
  if (TM_UNLIKELY(g_sampler_restart.load(std::memory_order_relaxed)) && !t_state.in_boot &&
      g_sampler_restart.exchange(false, std::memory_order_relaxed))
    start_sampler();
}

namespace {

constexpr uint8_t kMapping = 0x80;  // in a record's tier: an mmap'ed region (profile only)

void account(void* p, size_t size, uint32_t site, int tier, int rule, bool mapping) {
  uint64_t t = g_profile ? ticks() : 0;
  insert(Rec{reinterpret_cast<uintptr_t>(p), size, t, site, static_cast<uint8_t>(tier | (mapping ? kMapping : 0))});
  SiteStat& s = g_site_stats[site];
  TrackTotals& tt = g_track_totals;
  if (g_profile) touch_epoch(s);
  s.allocs.fetch_add(1, std::memory_order_relaxed);
  s.bytes.fetch_add(size, std::memory_order_relaxed);
  atomic_max(s.peak, s.live.fetch_add(size, std::memory_order_relaxed) + size);
  s.tier.store(static_cast<int8_t>(tier), std::memory_order_relaxed);
  s.rule.store(static_cast<int8_t>(rule), std::memory_order_relaxed);
  // Mappings have their own per-tier figures (mmap_bytes_live): tiers count heap bytes.
  if (!mapping) atomic_max(tt.peak[tier], tt.live[tier].fetch_add(size, std::memory_order_relaxed) + size);
  if (rule >= 0 && !mapping) {
    tt.rule_matches[rule].fetch_add(1, std::memory_order_relaxed);
    tt.rule_bytes[rule].fetch_add(size, std::memory_order_relaxed);
  }
  if (!g_profile) return;
  s.hist[hist_bucket(size)].fetch_add(1, std::memory_order_relaxed);
  atomic_min(s.size_min, size);
  atomic_max(s.size_max, size);
  uint64_t live = tt.proc_live.fetch_add(size, std::memory_order_relaxed) + size;
  uint64_t peak = tt.proc_peak.load(std::memory_order_relaxed);
  while (live > peak) {
    if (tt.proc_peak.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
      // A new process peak: every site's live bytes now are its share of it.
      uint64_t e = tt.epoch.fetch_add(1, std::memory_order_relaxed) + 1;
      s.at_peak.store(s.live.load(std::memory_order_relaxed), std::memory_order_relaxed);
      s.epoch.store(e, std::memory_order_relaxed);
      break;
    }
  }
}

}  // namespace

void track_alloc(void* p, size_t size, uintptr_t ra, uint32_t api, int tier, int rule) {
  if (g_site_stats) account(p, size, site_of(ra, api), tier, rule, false);
}

void track_mapping(void* p, size_t len, uintptr_t ra, int tier, int rule) {
  if (g_site_stats) account(p, len, site_of(ra, kApiMmap), tier, rule, true);
}

void track_remapped(const TrackRec& old, void* p, size_t len) {
  track_freed(old);
  account(p, len, old.site, old.tier & ~kMapping, -1, true);
}

bool track_take(const void* p, TrackRec* out) {
  if (!g_site_stats) return false;
  Rec r;
  if (!take(reinterpret_cast<uintptr_t>(p), &r)) return false;
  *out = TrackRec{r.size, r.t, r.site, r.tier};
  return true;
}

void track_put_back(const void* p, const TrackRec& r) {
  insert(Rec{reinterpret_cast<uintptr_t>(p), r.size, r.t, r.site, r.tier});
}

void track_freed(const TrackRec& r) {
  SiteStat& s = g_site_stats[r.site];
  TrackTotals& tt = g_track_totals;
  if (g_profile) {
    touch_epoch(s);
    uint64_t life = ticks() - r.t;
    s.life_n.fetch_add(1, std::memory_order_relaxed);
    s.life_sum.fetch_add(life, std::memory_order_relaxed);
    atomic_max(s.life_max, life);
    tt.proc_live.fetch_sub(r.size, std::memory_order_relaxed);
  }
  s.frees.fetch_add(1, std::memory_order_relaxed);
  s.live.fetch_sub(r.size, std::memory_order_relaxed);
  if (!(r.tier & kMapping)) tt.live[r.tier].fetch_sub(r.size, std::memory_order_relaxed);
}

}  // namespace tiermalloc::rt
