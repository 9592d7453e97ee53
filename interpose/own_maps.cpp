// SPDX-License-Identifier: MIT
// interpose/own_maps.cpp -- blocks that live outside the mimalloc arenas, each in a mapping
// of its own: alignments above 16 MiB, and the blocks of transient tiers.
//
// Transient tiers: every block is a file of its own, created unlinked (O_TMPFILE, mode
// 0600: it never has a name, so nothing is left behind after exit, _exit, a crash or
// kill -9) in the tier's directory, its space allocated up front (fallocate: a full
// filesystem is a fallback, never a SIGBUS), and mapped with libpmem's pmem_map_file --
// true persistent memory on an fsdax mount, a paged shared file mapping elsewhere.  free
// unmaps, which gives the space back to the filesystem.  Metadata (this table) stays in DRAM.
// libpmem is dlopen'ed only by processes whose policy has a transient tier.
//
// realloc of a transient block that stays on its tier resizes the file (fallocate or
// ftruncate) and the mapping (mremap: in place where the addresses after it are free, else
// the kernel moves the mapping -- no byte is copied).  That needs the file's descriptor,
// so a block keeps it (O_CLOEXEC) -- at most kMaxKeptFds blocks at once, so that a program
// with many blocks does not run out of descriptors because of us; beyond that a block's
// descriptor is closed after mapping and its realloc moves the bytes.  A kept descriptor is
// checked (device and inode) before each use: a program that closed it and reused the
// number must not see its own file resized or closed by us.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "interpose/diag.hpp"
#include "interpose/runtime.hpp"
#include "topology/bind.hpp"

extern "C" void* tiermalloc_sys_mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off);
extern "C" int tiermalloc_sys_munmap(void* addr, size_t len);

namespace tiermalloc::rt {
namespace {

constexpr int kMaxOwn = 4096;
struct OwnBlock {
  uintptr_t addr;
  size_t size;     // requested
  size_t len;      // mapped
  int tier;
  bool transient;
  int fd;          // transient, kept: the file (-1: not kept)
  dev_t dev;       // ... and what it must still be when used
  ino_t ino;
};
OwnBlock g_own[kMaxOwn];
std::atomic<int> g_kept_fds{0};
int g_max_kept_fds = -1;  // set on first use: min(256, RLIMIT_NOFILE soft / 8)
std::atomic<bool> g_lock{false};

struct Lock {
  Lock() { own_table_lock(); }
  ~Lock() { own_table_unlock(); }
};

// libpmem, loaded on demand.
using map_file_fn = void* (*)(const char*, size_t, int, mode_t, size_t*, int*);
using unmap_fn = int (*)(void*, size_t);
std::atomic<map_file_fn> g_map_file{nullptr};
std::atomic<unmap_fn> g_unmap{nullptr};
constexpr int kPmemFileCreate = 1 << 0;   // PMEM_FILE_CREATE
constexpr int kPmemFileTmpfile = 1 << 3;  // PMEM_FILE_TMPFILE

OwnBlock* find(const void* p) {
  for (auto& b : g_own)
    if (b.addr && b.addr == reinterpret_cast<uintptr_t>(p)) return &b;
  return nullptr;
}

bool record(ThreadState& ts, const OwnBlock& nb) {
  Lock lock;
  for (auto& b : g_own) {
    if (b.addr) continue;
    b = nb;
    size_t size = nb.size;
    int tier = nb.tier;
    bool transient = nb.transient;
    if (!transient) {  // transient blocks are counted by alloc_slow, like any tier's
      ts.allocs[tier]++;
      ts.bytes[tier] += size;
    }
    return true;
  }
  return false;
}

// The block's descriptor if it is still the block's file, else -1 (never kept, or the
// program closed it behind our back -- then the number is not ours to use or close).
int verified_fd(const OwnBlock& b) {
  if (b.fd < 0) return -1;
  struct stat st;
  if (fstat(b.fd, &st) != 0 || st.st_dev != b.dev || st.st_ino != b.ino) return -1;
  return b.fd;
}

void release_fd(const OwnBlock& b) {
  if (b.fd < 0) return;
  int fd = verified_fd(b);
  if (fd >= 0) close(fd);
  g_kept_fds.fetch_sub(1, std::memory_order_relaxed);
}

void unmap(const OwnBlock& b) {
  if (b.transient) {
    unmap_fn u = g_unmap.load(std::memory_order_acquire);
    if (u) u(reinterpret_cast<void*>(b.addr), b.len);
    else tiermalloc_sys_munmap(reinterpret_cast<void*>(b.addr), b.len);
    g_totals.file_live[b.tier].fetch_sub(b.len, std::memory_order_relaxed);
    release_fd(b);
  } else {
    tiermalloc_sys_munmap(reinterpret_cast<void*>(b.addr), b.len);
  }
}

}  // namespace

void own_table_lock() {
  while (g_lock.exchange(true, std::memory_order_acquire)) sched_yield();
}
void own_table_unlock() { g_lock.store(false, std::memory_order_release); }

void* own_aligned_alloc(ThreadState& ts, int tier, size_t size, size_t align) {
  size_t ps = 4096;
  size_t len = (size + ps - 1) & ~(ps - 1);
  if (len < size || len + align < len) return nullptr;
  void* m = tiermalloc_sys_mmap(nullptr, len + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  uintptr_t a = reinterpret_cast<uintptr_t>(m), start = (a + align - 1) & ~(align - 1);
  if (start > a) tiermalloc_sys_munmap(m, start - a);
  if (a + len + align > start + len) tiermalloc_sys_munmap(reinterpret_cast<void*>(start + len), a + len + align - start - len);
  const CompiledPolicy* pol = policy();
  if (pol && tier > 0 && tier < pol->ntiers && pol->tiers[tier].available && !pol->tiers[tier].transient)
    topo::bind_range(reinterpret_cast<void*>(start), len, pol->tiers[tier].mode, pol->tiers[tier].nodes);
  if (record(ts, OwnBlock{start, size, len, tier, false, -1, 0, 0})) return reinterpret_cast<void*>(start);
  tiermalloc_sys_munmap(reinterpret_cast<void*>(start), len);
  return nullptr;
}

bool transient_init() {
  if (g_map_file.load(std::memory_order_acquire)) return true;
  void* h = dlopen("libpmem.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!h) return false;
  auto mf = reinterpret_cast<map_file_fn>(dlsym(h, "pmem_map_file"));
  auto um = reinterpret_cast<unmap_fn>(dlsym(h, "pmem_unmap"));
  if (!mf || !um) return false;
  g_unmap.store(um, std::memory_order_release);
  g_map_file.store(mf, std::memory_order_release);
  return true;
}

namespace {

void note_peak(int tier) {
  uint64_t peak = g_totals.file_peak[tier].load(std::memory_order_relaxed);
  uint64_t now = g_totals.file_live[tier].load(std::memory_order_relaxed);
  while (now > peak && !g_totals.file_peak[tier].compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

bool keep_another_fd() {
  if (g_max_kept_fds < 0) {
    struct rlimit rl;
    long soft = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? static_cast<long>(rl.rlim_cur) : 1024;
    g_max_kept_fds = static_cast<int>(soft / 8 < 256 ? soft / 8 : 256);
  }
  if (g_kept_fds.fetch_add(1, std::memory_order_relaxed) < g_max_kept_fds) return true;
  g_kept_fds.fetch_sub(1, std::memory_order_relaxed);
  return false;
}

// An unlinked file of len bytes in dir, its space allocated; -1 with errno on failure.
int make_file(const char* dir, size_t len) {
  int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (fd < 0) return -1;
  if (fallocate(fd, 0, 0, static_cast<off_t>(len)) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

// Maps the whole file fd with libpmem (through /proc/self/fd, which reopens even an
// unlinked file); where /proc is missing, a plain shared mapping.
void* map_fd(map_file_fn map_file, int fd, size_t len, size_t* mapped, int* is_pmem) {
  char path[32] = "/proc/self/fd/";
  char digits[12];
  int n = 0;
  for (unsigned v = static_cast<unsigned>(fd); n == 0 || v; v /= 10) digits[n++] = static_cast<char>('0' + v % 10);
  size_t at = std::strlen(path);
  while (n) path[at++] = digits[--n];
  path[at] = 0;
  void* p = map_file(path, 0, 0, 0, mapped, is_pmem);
  if (p) return p;
  p = tiermalloc_sys_mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return nullptr;
  *mapped = len;
  *is_pmem = 0;
  return p;
}

}  // namespace

void* transient_alloc(ThreadState& ts, int tier, size_t size) {
  const CompiledPolicy* pol = policy();
  map_file_fn map_file = g_map_file.load(std::memory_order_acquire);
  if (!pol || !map_file || tier <= 0 || tier >= pol->ntiers) return nullptr;
  const CompiledTier& t = pol->tiers[tier];
  size_t len = (size + 4095) & ~size_t{4095};
  if (len == 0 || len < size) return nullptr;
  // The budget counts file space reserved, before the file is made: racing threads may
  // overshoot by one block each, never more.
  uint64_t live = g_totals.file_live[tier].fetch_add(len, std::memory_order_relaxed) + len;
  if (t.transient_size && live > t.transient_size) {
    g_totals.file_live[tier].fetch_sub(len, std::memory_order_relaxed);
    g_totals.fallback_budget[tier].fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  int saved = errno;
  size_t mapped = 0;
  int is_pmem = 0;
  void* p = nullptr;
  int fd = make_file(t.path, len);
  if (fd >= 0) p = map_fd(map_file, fd, len, &mapped, &is_pmem);
  if (!p) {
    if (fd >= 0) close(fd);
    g_totals.file_live[tier].fetch_sub(len, std::memory_order_relaxed);
    g_totals.fallback_no_space[tier].fetch_add(1, std::memory_order_relaxed);
    errno = saved;
    return nullptr;
  }
  errno = saved;
  if (mapped != len) g_totals.file_live[tier].fetch_add(mapped - len, std::memory_order_relaxed);
  note_peak(tier);
  if (is_pmem) g_totals.is_pmem[tier].store(true, std::memory_order_relaxed);
  OwnBlock nb{reinterpret_cast<uintptr_t>(p), size, mapped, tier, true, -1, 0, 0};
  struct stat st;
  if (keep_another_fd()) {
    if (fstat(fd, &st) == 0) {
      nb.fd = fd;
      nb.dev = st.st_dev;
      nb.ino = st.st_ino;
    } else {
      g_kept_fds.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  if (nb.fd < 0) close(fd);
  if (!record(ts, nb)) {
    unmap(nb);
    g_totals.fallback_table_full[tier].fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  return p;
}

void* transient_resize(void* p, size_t size) {
  OwnBlock b;
  {
    Lock lock;
    OwnBlock* e = find(p);
    if (!e || !e->transient) return nullptr;
    b = *e;
  }
  int fd = verified_fd(b);
  size_t len = (size + 4095) & ~size_t{4095};
  if (fd < 0 || len == 0 || len < size) return nullptr;
  const CompiledPolicy* pol = policy();
  if (!pol) return nullptr;
  const CompiledTier& t = pol->tiers[b.tier];
  void* q = p;
  if (len > b.len) {
    size_t delta = len - b.len;
    uint64_t live = g_totals.file_live[b.tier].fetch_add(delta, std::memory_order_relaxed) + delta;
    bool ok = !(t.transient_size && live > t.transient_size);
    int saved = errno;
    if (ok && fallocate(fd, 0, static_cast<off_t>(b.len), static_cast<off_t>(delta)) != 0) ok = false;
    if (ok) {
      q = reinterpret_cast<void*>(syscall(SYS_mremap, p, b.len, len, MREMAP_MAYMOVE));
      if (q == MAP_FAILED) {
        ok = false;
        if (ftruncate(fd, static_cast<off_t>(b.len)) != 0) {
        }
      }
    }
    errno = saved;
    if (!ok) {
      g_totals.file_live[b.tier].fetch_sub(delta, std::memory_order_relaxed);
      return nullptr;  // the caller moves the block (or falls back)
    }
    note_peak(b.tier);
  } else if (len < b.len) {
    int saved = errno;
    if (syscall(SYS_mremap, p, b.len, len, 0) == reinterpret_cast<long>(MAP_FAILED)) {
      errno = saved;
      return nullptr;
    }
    if (ftruncate(fd, static_cast<off_t>(len)) != 0) {  // the space: back to the filesystem
    }
    errno = saved;
    g_totals.file_live[b.tier].fetch_sub(b.len - len, std::memory_order_relaxed);
  }
  Lock lock;
  if (OwnBlock* e = find(p)) {
    e->addr = reinterpret_cast<uintptr_t>(q);
    e->size = size;
    e->len = len;
  }
  return q;
}

int own_transient_tier(const void* p) {
  Lock lock;
  OwnBlock* e = find(p);
  return e && e->transient ? e->tier : -1;
}

bool own_free(void* p) {
  OwnBlock b;
  {
    Lock lock;
    OwnBlock* e = find(p);
    if (!e) return false;
    b = *e;
    e->addr = 0;
  }
  unmap(b);
  g_totals.frees[b.tier].fetch_add(1, std::memory_order_relaxed);
  return true;
}

size_t own_size(const void* p) {
  Lock lock;
  OwnBlock* e = find(p);
  return e ? e->size : 0;
}

int own_tier(const void* p) {
  Lock lock;
  OwnBlock* e = find(p);
  return e ? e->tier : -1;
}

namespace {

// fork with transient blocks: the child copies them while the parent waits (a pipe), so the
// parent's writes after fork() cannot reach the child's copy.  -1: no transient block.
int g_fork_pipe[2] = {-1, -1};

bool has_transient_blocks() {
  for (const auto& b : g_own)
    if (b.addr && b.transient) return true;
  return false;
}

}  // namespace

void transient_before_fork() {
  // Called with the table locked.
  if (has_transient_blocks() && pipe2(g_fork_pipe, O_CLOEXEC) != 0) g_fork_pipe[0] = g_fork_pipe[1] = -1;
}

void transient_after_fork_parent() {
  if (g_fork_pipe[0] < 0) return;
  close(g_fork_pipe[1]);
  char c;
  while (read(g_fork_pipe[0], &c, 1) < 0 && errno == EINTR) {
  }
  close(g_fork_pipe[0]);
  g_fork_pipe[0] = g_fork_pipe[1] = -1;
}

namespace {
void signal_parent() {
  if (g_fork_pipe[0] < 0) return;
  close(g_fork_pipe[0]);
  char c = 1;
  while (write(g_fork_pipe[1], &c, 1) < 0 && errno == EINTR) {
  }
  close(g_fork_pipe[1]);
  g_fork_pipe[0] = g_fork_pipe[1] = -1;
}
}  // namespace

void transient_after_fork_child() {
  // The child holds the parent's shared file pages; a private anonymous mapping would give
  // it a copy instead.  So: a new unlinked file per block, the contents copied in, mapped
  // over the same addresses.  One thread lives here; the table lock was taken by prepare
  // and released just before.  Where no file can be made, the copy goes to anonymous
  // memory: the child keeps its data either way.
  const CompiledPolicy* pol = policy();
  if (!pol) {
    signal_parent();
    return;
  }
  for (auto& b : g_own) {
    if (!b.addr || !b.transient) continue;
    void* addr = reinterpret_cast<void*>(b.addr);
    int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, pol->tiers[b.tier].path, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    bool done = false;
    if (fd >= 0) {
      size_t off = 0;
      bool ok = ftruncate(fd, static_cast<off_t>(b.len)) == 0;
      while (ok && off < b.len) {
        ssize_t w = pwrite(fd, static_cast<char*>(addr) + off, b.len - off, static_cast<off_t>(off));
        if (w <= 0) ok = false;
        else off += static_cast<size_t>(w);
      }
      if (ok && tiermalloc_sys_mmap(addr, b.len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == addr) done = true;
    }
    // The descriptor inherited from the parent names the parent's file: not ours to keep.
    int inherited = verified_fd(b);
    if (inherited >= 0) close(inherited);
    struct stat st;
    if (done && b.fd >= 0 && fstat(fd, &st) == 0) {
      b.fd = fd;
      b.dev = st.st_dev;
      b.ino = st.st_ino;
    } else {
      if (b.fd >= 0) g_kept_fds.fetch_sub(1, std::memory_order_relaxed);
      b.fd = -1;
      if (fd >= 0) close(fd);
    }
    if (!done) {
      void* copy = tiermalloc_sys_mmap(nullptr, b.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (copy == MAP_FAILED) continue;  // nothing better: the child shares the parent's pages
      std::memcpy(copy, addr, b.len);
      syscall(SYS_mremap, copy, b.len, b.len, MREMAP_MAYMOVE | MREMAP_FIXED, addr);
    }
  }
  signal_parent();
}

}  // namespace tiermalloc::rt
