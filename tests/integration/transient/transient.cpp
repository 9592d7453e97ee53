// SPDX-License-Identifier: MIT
// transient: blocks on a transient (file-backed) tier, checked from inside the program.
//
//   integ_transient MODE DIR [ARGS]
//
// Run under LD_PRELOAD=libtiermalloc.so with a policy whose tier "scratch" is
// `transient: { path: DIR, ... }` and whose rule sends ">= 32MiB" there, everything else to
// tier "near" (the driver, run.sh, writes it).  Every block gets a pattern written and
// verified.  Modes:
//   basic     malloc/calloc/new[]/posix_memalign/aligned_alloc/realloc(NULL) >= 32 MiB on
//             scratch, smaller on near; calloc reads zero (also after a freed, dirtied block);
//             malloc_usable_size >= requested; each block one unlinked mode-0600 file of DIR
//             (/proc/self/maps "(deleted)", DIR stays empty); statvfs shows the space in use
//             and returned after free.
//   realloc   one block grown and shrunk across 32 MiB: contents kept, tier changes each
//             time the size crosses the boundary, the old file is released.
//   budget    `size: 160MiB`: five 32 MiB blocks fit, the sixth (and a 33 MiB one) go to
//             near and work; a free makes room again.
//   fork      parent and child each see their own copy after fork (ordered by pipes).
//   forkrace  the parent writes to the block right after fork; the child must still see
//             the contents at fork time.
//   hold      SIZE_MIB HOW: allocates SIZE_MIB of transient blocks, prints READY, waits for
//             a line on stdin (or forever: HOW=kill), then exit(0) / _exit(0) with the
//             blocks live.
//   stats     a known sequence (size: 96MiB): 32 MiB, 40 MiB, 32 MiB (over budget: near),
//             free, 48 MiB calloc, frees; check_stats.py checks the figures exactly.
//   nospace   DIR is a 100 MiB filesystem: the second 64 MiB block does not fit: near.
//   vm        (in the hmat-vm guest, DIR = /mnt/pmem0, fsdax) 64 MiB malloc + 100 MiB calloc,
//             patterns round-trip, flushed with msync; then freed (check_stats.py: is_pmem).
//   threads   (size: 96MiB) 4 threads x 40 blocks of 32 MiB, each filled, verified and freed
//             (some by another thread): at most 3 on scratch at once, the rest on near.
//
// Environment: TM_DF_SLACK_MIB (default 64): how far statvfs figures may stray (other
// writers on a shared filesystem); 0 on a private one.
#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <vector>

#include "tm_check.h"

namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kRule = 32 * kMiB;  // the rule's boundary

const char* g_dir;
size_t g_dirlen;
tm_tier_of_fn g_tier_of;
tm_tier_name_fn g_tier_name;

size_t page_up(size_t n) { return (n + 4095) & ~size_t{4095}; }

const char* tier_name(const void* p) {
  int t = g_tier_of(p);
  const char* n = t >= 0 ? g_tier_name(t) : nullptr;
  return n ? n : "(none)";
}

void expect_tier(const void* p, const char* want, const char* what) {
  const char* got = tier_name(p);
  CHECK(strcmp(got, want) == 0, "%s: block %p is on tier %s, expected %s", what, p, got, want);
}

// Entries of DIR other than . and .. (and lost+found: DIR may be the root of a filesystem)
int dir_entries() {
  DIR* d = opendir(g_dir);
  CHECK(d != nullptr, "opendir(%s): %s", g_dir, strerror(errno));
  int n = 0;
  while (struct dirent* e = readdir(d))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "lost+found")) {
      fprintf(stderr, "  entry in %s: %s\n", g_dir, e->d_name);
      ++n;
    }
  closedir(d);
  return n;
}

// Mappings of files of DIR in /proc/self/maps (the unlinked ones show as "DIR/#ino (deleted)").
// Reads into a static buffer: no allocation while looking.
struct MapInfo {
  int files, deleted;
  size_t bytes;
  uintptr_t first_start, first_end;
  unsigned long first_ino;  // the inode of the first file mapped
};
MapInfo dir_maps() {
  static char buf[1 << 20];
  MapInfo mi{};
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  CHECK(fd >= 0, "open /proc/self/maps: %s", strerror(errno));
  size_t len = 0;
  for (ssize_t r; (r = read(fd, buf + len, sizeof buf - 1 - len)) > 0;) len += static_cast<size_t>(r);
  close(fd);
  buf[len] = 0;
  for (char* line = buf; *line;) {
    char* nl = strchr(line, '\n');
    if (nl) *nl = 0;
    char* path = strchr(line, '/');
    if (path && strncmp(path, g_dir, g_dirlen) == 0 && path[g_dirlen] == '/') {
      unsigned long a, b, ino = 0;
      if (sscanf(line, "%lx-%lx %*s %*s %*s %lu", &a, &b, &ino) >= 2) {
        if (!mi.files) mi.first_start = a, mi.first_end = b, mi.first_ino = ino;
        mi.files++;
        mi.bytes += b - a;
        if (strstr(path, " (deleted)")) mi.deleted++;
      }
    }
    if (!nl) break;
    line = nl + 1;
  }
  return mi;
}

uint64_t df_avail() {
  struct statvfs s;
  CHECK(statvfs(g_dir, &s) == 0, "statvfs(%s): %s", g_dir, strerror(errno));
  return static_cast<uint64_t>(s.f_bavail) * s.f_frsize;
}
size_t df_slack() {
  const char* e = getenv("TM_DF_SLACK_MIB");
  return (e ? strtoull(e, nullptr, 10) : 64) * kMiB;
}

// Space back within the slack, polling a little (the filesystem may free lazily).
void expect_df_back(uint64_t base, const char* what) {
  uint64_t now = 0;
  for (int i = 0; i < 100; ++i) {
    now = df_avail();
    if (now + df_slack() >= base) return;
    usleep(50000);
  }
  CHECK(false, "%s: filesystem free space %llu MiB, was %llu MiB before the blocks (slack %zu MiB)", what,
        (unsigned long long)(now / kMiB), (unsigned long long)(base / kMiB), df_slack() / kMiB);
}

void expect_zero(const void* p, size_t n, const char* what) {
  const unsigned char* c = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; i += 8) {
    uint64_t w;
    memcpy(&w, c + i, n - i >= 8 ? 8 : n - i);
    if (n - i < 8) w &= (uint64_t{1} << (8 * (n - i))) - 1;
    CHECK(w == 0, "%s: calloc'ed block not zero near byte %zu", what, i);
  }
}

void expect_pattern(const void* p, size_t n, uint32_t seed, const char* what) {
  size_t bad = tm_verify(p, n, seed);
  CHECK(bad == static_cast<size_t>(-1), "%s: byte %zu of %zu differs from pattern %u", what, bad, n, seed);
}

// The file behind the first mapping of DIR: unlinked, mode 0600 (when map_files is readable).
void expect_file_mode() {
  MapInfo mi = dir_maps();
  if (!mi.files) return;
  char link[128];
  snprintf(link, sizeof link, "/proc/self/map_files/%lx-%lx", (unsigned long)mi.first_start, (unsigned long)mi.first_end);
  struct stat st;
  if (stat(link, &st) != 0) {
    printf("  (file mode not checked: stat %s: %s)\n", link, strerror(errno));
    return;
  }
  CHECK((st.st_mode & 07777) == 0600, "a transient file has mode %o, expected 0600", st.st_mode & 07777);
  CHECK(st.st_nlink == 0, "a transient file has %lu links, expected 0 (unlinked)", (unsigned long)st.st_nlink);
  CHECK(S_ISREG(st.st_mode), "a transient mapping is not of a regular file");
  printf("  transient file: mode %o, %lu links, %lld bytes\n", st.st_mode & 07777, (unsigned long)st.st_nlink,
         (long long)st.st_size);
}

struct Blk {
  void* p;
  size_t n;
  uint32_t seed;
  const char* tier;
  const char* how;
};

// ---------------------------------------------------------------------------------------
int mode_basic() {
  const uint64_t base = df_avail();
  CHECK(dir_maps().files == 0, "files of %s mapped before any allocation", g_dir);
  // A dirtied block freed first: the next calloc must still read zero.
  {
    void* d = malloc(64 * kMiB);
    CHECK(d, "malloc 64 MiB failed");
    expect_tier(d, "scratch", "malloc 64 MiB");
    memset(d, 0xA5, 64 * kMiB);
    free(d);
    CHECK(dir_maps().files == 0, "a freed block's file is still mapped");
  }
  std::vector<Blk> b;
  auto add = [&](void* p, size_t n, const char* how) {
    CHECK(p != nullptr, "%s of %zu bytes failed", how, n);
    b.push_back(Blk{p, n, static_cast<uint32_t>(b.size() + 1), n >= kRule ? "scratch" : "near", how});
  };
  add(malloc(1024), 1024, "malloc");
  add(malloc(kMiB), kMiB, "malloc");
  add(malloc(kRule - 1), kRule - 1, "malloc");
  add(malloc(kRule), kRule, "malloc");
  add(malloc(48 * kMiB + 123), 48 * kMiB + 123, "malloc");
  add(new char[100 * kMiB], 100 * kMiB, "new[]");
  void* pm = nullptr;
  CHECK(posix_memalign(&pm, 4096, 40 * kMiB) == 0, "posix_memalign 40 MiB failed");
  add(pm, 40 * kMiB, "posix_memalign(4096)");
  add(aligned_alloc(4096, 64 * kMiB), 64 * kMiB, "aligned_alloc(4096)");
  add(realloc(nullptr, 36 * kMiB + 5), 36 * kMiB + 5, "realloc(NULL)");
  size_t ncalloc_first = b.size();
  add(calloc(1, 64 * kMiB), 64 * kMiB, "calloc");              // (the dirtied block's size)
  add(calloc(33, kMiB + 1), 33 * (kMiB + 1), "calloc");
  add(calloc(1000, 1000), 1000 * 1000, "calloc (small)");

  size_t transient_bytes = 0, transient_blocks = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    char what[96];
    snprintf(what, sizeof what, "%s(%zu)", b[i].how, b[i].n);
    expect_tier(b[i].p, b[i].tier, what);
    CHECK(malloc_usable_size(b[i].p) >= b[i].n, "%s: malloc_usable_size %zu < %zu", what, malloc_usable_size(b[i].p),
          b[i].n);
    if (i >= ncalloc_first) expect_zero(b[i].p, b[i].n, what);
    if (!strcmp(b[i].tier, "scratch")) {
      transient_bytes += page_up(b[i].n);
      transient_blocks++;
      CHECK(tm_aligned(b[i].p, 4096), "%s: transient block %p not page-aligned", what, b[i].p);
    }
    tm_fill(b[i].p, b[i].n, b[i].seed);
  }
  for (auto& x : b) expect_pattern(x.p, x.n, x.seed, x.how);

  MapInfo mi = dir_maps();
  printf("basic: %zu transient blocks, %zu MiB; %d mappings of %s (%d deleted), %zu MiB mapped\n", transient_blocks,
         transient_bytes / kMiB, mi.files, g_dir, mi.deleted, mi.bytes / kMiB);
  CHECK(mi.files == static_cast<int>(transient_blocks), "%d files of %s mapped, expected one per transient block (%zu)",
        mi.files, g_dir, transient_blocks);
  CHECK(mi.deleted == mi.files, "%d of the %d files of %s mapped are not unlinked", mi.files - mi.deleted, mi.files, g_dir);
  CHECK(mi.bytes >= transient_bytes, "%zu bytes of %s mapped, blocks need %zu", mi.bytes, g_dir, transient_bytes);
  CHECK(dir_entries() == 0, "%s is not empty while transient blocks are live", g_dir);
  expect_file_mode();
  uint64_t used = base - df_avail();
  printf("basic: filesystem space in use: %llu MiB (blocks: %zu MiB, slack %zu MiB)\n", (unsigned long long)(used / kMiB),
         transient_bytes / kMiB, df_slack() / kMiB);
  CHECK(used + df_slack() >= transient_bytes, "only %llu MiB of %s in use for %zu MiB of transient blocks",
        (unsigned long long)(used / kMiB), g_dir, transient_bytes / kMiB);

  for (auto& x : b) {
    expect_pattern(x.p, x.n, x.seed, x.how);
    if (!strcmp(x.how, "new[]")) delete[] static_cast<char*>(x.p);
    else free(x.p);
  }
  mi = dir_maps();
  CHECK(mi.files == 0, "%d files of %s still mapped after every free", mi.files, g_dir);
  expect_df_back(base, "after free");
  CHECK(dir_entries() == 0, "%s is not empty after free", g_dir);
  printf("basic: OK\n");
  return 0;
}

// ---------------------------------------------------------------------------------------
int mode_realloc() {
  const uint32_t seed = 77;
  struct Step {
    size_t n;
    const char* tier;
  };
  const Step steps[] = {
      {kMiB, "near"},           {31 * kMiB, "near"},     {kRule - 1, "near"},      {kRule, "scratch"},
      {80 * kMiB + 3, "scratch"}, {40 * kMiB, "scratch"}, {kRule - 1, "near"},      {kRule + 1, "scratch"},
      {200 * kMiB, "scratch"},  {4096, "near"},          {64 * kMiB, "scratch"},   {33 * kMiB, "scratch"},
      {100, "near"},
  };
  void* p = malloc(1);
  CHECK(p, "malloc(1)");
  size_t cur = 1;
  tm_fill(p, 1, seed);
  int moves = 0, resizes = 0;
  unsigned long last_ino = 0;
  const char* last = tier_name(p);
  for (const Step& s : steps) {
    void* q = realloc(p, s.n);
    CHECK(q != nullptr, "realloc %zu -> %zu failed", cur, s.n);
    size_t keep = s.n < cur ? s.n : cur;
    char what[96];
    snprintf(what, sizeof what, "realloc %zu -> %zu", cur, s.n);
    expect_pattern(q, keep, seed, what);
    expect_tier(q, s.tier, what);
    CHECK(malloc_usable_size(q) >= s.n, "%s: malloc_usable_size %zu", what, malloc_usable_size(q));
    tm_fill_range(q, keep, s.n, seed);
    if (strcmp(last, tier_name(q))) moves++;
    last = tier_name(q);
    MapInfo mi = dir_maps();
    int want = !strcmp(s.tier, "scratch");
    CHECK(mi.files == want, "%s: %d files of %s mapped, expected %d (the old block's file released)", what, mi.files,
          g_dir, want);
    CHECK(dir_entries() == 0, "%s: %s not empty", what, g_dir);
    // Staying on the transient tier: the same file, resized (not a new file and a copy),
    // its mapping exactly the new size in pages.
    bool resized = want && last_ino && mi.first_ino == last_ino;
    if (want && last_ino) {
      CHECK(resized, "%s: a new file (inode %lu, was %lu): the block was copied, not resized", what,
            mi.first_ino, last_ino);
      CHECK(mi.bytes == page_up(s.n), "%s: %zu bytes mapped, expected %zu", what, mi.bytes, page_up(s.n));
      resizes++;
    }
    last_ino = want ? mi.first_ino : 0;
    printf("  %-26s -> %-7s %s\n", what, s.tier, resized ? (q == p ? "(file resized, in place)" : "(file resized, mapping moved)") : q == p ? "(in place)" : "(moved)");
    p = q;
    cur = s.n;
  }
  CHECK(moves == 6, "%d tier changes, expected 6", moves);
  CHECK(resizes == 4, "%d resizes on the transient tier, expected 4", resizes);
  // reallocarray into the tier, and realloc(p, 0) of a transient block (frees it).
  p = reallocarray(p, 40, kMiB);
  CHECK(p, "reallocarray 40 x 1 MiB");
  expect_pattern(p, 100, seed, "reallocarray");
  expect_tier(p, "scratch", "reallocarray 40 MiB");
  CHECK(realloc(p, 0) == nullptr, "realloc(p, 0) returned a pointer");
  CHECK(dir_maps().files == 0, "realloc(p, 0) of a transient block left its file mapped");
  printf("realloc: %d tier changes, %d file resizes; OK\n", moves, resizes);
  return 0;
}

// A program that closes every descriptor it did not open (closefrom, daemons) and reuses the
// numbers: the blocks' kept descriptors are gone; realloc must still work (moving the bytes)
// and must neither resize nor close the program's own file that now has the number.
int mode_closefds() {
  const uint32_t seed = 91;
  void* p = malloc(kRule + 10);
  CHECK(p, "malloc");
  tm_fill(p, kRule + 10, seed);
  expect_tier(p, "scratch", "first block");
  syscall(SYS_close_range, 3u, ~0u, 0u);
  // The program's own files, on the lowest numbers again (one of them the block's old one).
  char path[4096];
  snprintf(path, sizeof path, "%s/../tm-closefds-%d", g_dir, getpid());
  int fds[8];
  struct stat before[8];
  for (int i = 0; i < 8; ++i) {
    fds[i] = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    CHECK(fds[i] >= 0, "open %s: %s", path, strerror(errno));
    CHECK(fstat(fds[i], &before[i]) == 0, "fstat");
  }
  unlink(path);
  void* q = realloc(p, 2 * kRule);
  CHECK(q, "realloc after close_range");
  expect_pattern(q, kRule + 10, seed, "realloc after close_range");
  expect_tier(q, "scratch", "realloc after close_range");
  tm_fill(q, 2 * kRule, seed);
  void* r = realloc(q, kRule + 4096);
  CHECK(r, "shrinking realloc");
  expect_pattern(r, kRule + 4096, seed, "shrinking realloc");
  free(r);
  for (int i = 0; i < 8; ++i) {
    struct stat st;
    CHECK(fcntl(fds[i], F_GETFD) >= 0, "fd %d of the program was closed by the allocator", fds[i]);
    CHECK(fstat(fds[i], &st) == 0 && st.st_ino == before[i].st_ino && st.st_size == 0,
          "fd %d of the program: its file was changed (size %lld)", fds[i], static_cast<long long>(st.st_size));
  }
  CHECK(dir_maps().files == 0, "files still mapped after free");
  printf("closefds: realloc after close_range moved the block, the program's files untouched; OK\n");
  return 0;
}

// ---------------------------------------------------------------------------------------
int mode_budget() {  // size: 160MiB
  std::vector<Blk> b;
  for (int i = 0; i < 5; ++i) {
    void* p = malloc(kRule);
    CHECK(p, "malloc 32 MiB #%d", i);
    expect_tier(p, "scratch", "32 MiB within the budget");
    b.push_back(Blk{p, kRule, static_cast<uint32_t>(100 + i), "scratch", "within"});
  }
  void* over = malloc(kRule);
  CHECK(over, "malloc 32 MiB over the budget failed (should fall back)");
  expect_tier(over, "near", "32 MiB over the budget");
  b.push_back(Blk{over, kRule, 200, "near", "over"});
  void* overz = calloc(kRule, 1);
  CHECK(overz, "calloc 32 MiB over the budget failed");
  expect_tier(overz, "near", "calloc 32 MiB over the budget");
  expect_zero(overz, kRule, "calloc over the budget");
  b.push_back(Blk{overz, kRule, 201, "near", "over-calloc"});
  for (auto& x : b) tm_fill(x.p, x.n, x.seed);
  CHECK(dir_maps().files == 5, "%d files mapped, expected 5", dir_maps().files);
  // Make room: one transient block freed, then a 33 MiB one does not fit (4*32+33 > 160)...
  free(b[0].p);
  b.erase(b.begin());
  void* big = malloc(33 * kMiB);
  CHECK(big, "malloc 33 MiB");
  expect_tier(big, "near", "33 MiB with 128 MiB in use of 160");
  b.push_back(Blk{big, 33 * kMiB, 202, "near", "33"});
  // ...but a 32 MiB one does, exactly to the budget.
  void* fits = malloc(kRule);
  CHECK(fits, "malloc 32 MiB");
  expect_tier(fits, "scratch", "32 MiB with 128 MiB in use of 160");
  b.push_back(Blk{fits, kRule, 203, "scratch", "fits"});
  tm_fill(big, 33 * kMiB, 202);
  tm_fill(fits, kRule, 203);
  // A realloc that would move a fallen-back block into the full tier stays usable.
  void* grown = realloc(over, 34 * kMiB);
  CHECK(grown, "realloc of a near block to 34 MiB");
  expect_pattern(grown, kRule, 200, "realloc over the budget");
  expect_tier(grown, "near", "realloc to 34 MiB with the tier full");
  for (auto& x : b)
    if (x.p == over) x.p = grown, x.n = 34 * kMiB, tm_fill(grown, x.n, x.seed);
  for (auto& x : b) expect_pattern(x.p, x.n, x.seed, x.how);
  CHECK(dir_entries() == 0, "%s not empty", g_dir);
  for (auto& x : b) free(x.p);
  CHECK(dir_maps().files == 0, "files still mapped after free");
  printf("budget: OK\n");
  return 0;
}

// ---------------------------------------------------------------------------------------
void wr(int fd, char c) { CHECK(write(fd, &c, 1) == 1, "pipe write: %s", strerror(errno)); }
char rd(int fd) {
  char c = 0;
  CHECK(read(fd, &c, 1) == 1, "pipe read: %s", strerror(errno));
  return c;
}

int mode_fork() {
  const size_t n = 64 * kMiB;
  char* b = static_cast<char*>(malloc(n));
  char* z = static_cast<char*>(calloc(1, kRule));
  CHECK(b && z, "allocation");
  expect_tier(b, "scratch", "64 MiB");
  expect_tier(z, "scratch", "calloc 32 MiB");
  tm_fill(b, n, 1);
  int p2c[2], c2p[2];
  CHECK(pipe(p2c) == 0 && pipe(c2p) == 0, "pipe");
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    expect_pattern(b, n, 1, "child: the parent's contents at fork");
    expect_zero(z, kRule, "child: calloc'ed block");
    expect_tier(b, "scratch", "child: inherited block");
    tm_fill(b, n, 3);
    tm_fill(z, kRule, 4);
    wr(c2p[1], '1');                    // child wrote
    CHECK(rd(p2c[0]) == '2', "protocol");  // parent wrote
    expect_pattern(b, n, 3, "child: own writes after the parent wrote");
    expect_pattern(z, kRule, 4, "child: own writes after the parent wrote (calloc block)");
    // The child's own transient blocks work, and DIR stays empty.
    void* c = calloc(1, 48 * kMiB);
    CHECK(c, "child: calloc 48 MiB");
    expect_tier(c, "scratch", "child: its own block");
    expect_zero(c, 48 * kMiB, "child: its own calloc");
    tm_fill(c, 48 * kMiB, 5);
    expect_pattern(c, 48 * kMiB, 5, "child: its own block");
    CHECK(dir_entries() == 0, "child: %s not empty", g_dir);
    free(c);
    free(b);  // the child's copy: must not take the parent's away
    free(z);
    CHECK(dir_maps().files == 0, "child: files of %s still mapped after free", g_dir);
    printf("fork child: OK\n");
    fflush(stdout);
    exit(0);
  }
  CHECK(rd(c2p[0]) == '1', "protocol");
  expect_pattern(b, n, 1, "parent: after the child wrote");
  expect_zero(z, kRule, "parent: calloc block after the child wrote");
  tm_fill(b, n, 2);
  wr(p2c[1], '2');
  int st = 0;
  CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed (status 0x%x)", st);
  expect_pattern(b, n, 2, "parent: after the child freed its copy");
  expect_zero(z, kRule, "parent: calloc block after the child exited");
  CHECK(dir_entries() == 0, "%s not empty", g_dir);
  free(b);
  free(z);
  CHECK(dir_maps().files == 0, "files still mapped after free");
  printf("fork: OK\n");
  return 0;
}

// The parent overwrites the block as soon as fork returns, back to front (the end first).
int mode_forkrace() {
  const size_t n = 256 * kMiB;
  const int rounds = 3;
  for (int r = 0; r < rounds; ++r) {
    char* b = static_cast<char*>(malloc(n));
    CHECK(b, "malloc 256 MiB");
    expect_tier(b, "scratch", "256 MiB");
    tm_fill(b, n, 10);
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
      size_t bad = tm_verify(b, n, 10);
      if (bad != static_cast<size_t>(-1)) {
        fprintf(stderr, "FAIL: child: byte %zu of the 256 MiB block (offset %zu MiB) is not what the parent had at fork: "
                "the parent's writes after fork reached the child's copy\n", bad, bad / kMiB);
        _exit(1);
      }
      _exit(0);
    }
    for (size_t off = n; off > 0; off -= 4 * kMiB) tm_fill_range(b, off - 4 * kMiB, off, 11);
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "round %d: the child did not see the contents at fork time (status 0x%x)",
          r, st);
    expect_pattern(b, n, 11, "parent");
    free(b);
  }
  printf("forkrace: OK\n");
  return 0;
}

// ---------------------------------------------------------------------------------------
int mode_hold(int argc, char** argv) {
  CHECK(argc >= 5, "usage: hold DIR SIZE_MIB exit|_exit|kill");
  size_t total = strtoull(argv[3], nullptr, 10) * kMiB;
  const char* how = argv[4];
  for (size_t done = 0; done < total; done += 64 * kMiB) {
    char* p = static_cast<char*>(calloc(1, 64 * kMiB));
    CHECK(p, "calloc 64 MiB");
    expect_tier(p, "scratch", "held block");
    for (size_t i = 0; i < 64 * kMiB; i += 1 * kMiB) p[i] = 1;  // some pages touched, most not
  }
  printf("READY %d\n", (int)getpid());
  fflush(stdout);
  if (!strcmp(how, "kill"))
    for (;;) pause();
  char line[16];
  (void)!read(0, line, sizeof line);
  if (!strcmp(how, "_exit")) _exit(0);
  exit(0);
}

// ---------------------------------------------------------------------------------------
int mode_stats() {  // size: 96MiB; check_stats.py knows these figures
  void* a = malloc(32 * kMiB);                 // scratch: 32 in use
  void* b = malloc(40 * kMiB);                 // scratch: 72
  void* c = malloc(32 * kMiB);                 // 104 > 96: near (budget fallback)
  CHECK(a && b && c, "allocation");
  expect_tier(a, "scratch", "a");
  expect_tier(b, "scratch", "b");
  expect_tier(c, "near", "c");
  tm_fill(a, 32 * kMiB, 1);
  tm_fill(b, 40 * kMiB, 2);
  tm_fill(c, 32 * kMiB, 3);
  free(a);                                     // 40
  void* d = calloc(48, kMiB);                  // scratch: 88 (the peak)
  CHECK(d, "calloc");
  expect_tier(d, "scratch", "d");
  expect_zero(d, 48 * kMiB, "d");
  expect_pattern(b, 40 * kMiB, 2, "b");
  expect_pattern(c, 32 * kMiB, 3, "c");
  void* e = nullptr;                           // alignment above a page: near
  CHECK(posix_memalign(&e, 64 * 1024, 33 * kMiB) == 0 && e, "posix_memalign 64 KiB, 33 MiB");
  expect_tier(e, "near", "e (aligned)");
  tm_fill(d, 48 * kMiB, 4);
  d = realloc(d, 56 * kMiB);                   // the file grows: 40 + 56 = 96 (the peak)
  CHECK(d, "realloc d to 56 MiB");
  expect_tier(d, "scratch", "d grown to 56 MiB");
  expect_pattern(d, 48 * kMiB, 4, "d grown to 56 MiB");
  tm_fill(d, 56 * kMiB, 5);
  d = realloc(d, 60 * kMiB);                   // 100 > 96: moves to near (budget fallback)
  CHECK(d, "realloc d to 60 MiB");
  expect_tier(d, "near", "d grown to 60 MiB");
  expect_pattern(d, 56 * kMiB, 5, "d grown to 60 MiB");
  free(b);
  free(c);
  free(d);
  free(e);
  printf("stats: OK\n");
  return 0;
}

// DIR is a filesystem of 100 MiB (the driver mounts it): the second 64 MiB does not fit.
int mode_nospace() {
  const uint64_t base = df_avail();
  void* a = malloc(64 * kMiB);
  CHECK(a, "malloc 64 MiB");
  expect_tier(a, "scratch", "first 64 MiB");
  void* b = malloc(64 * kMiB);
  CHECK(b, "malloc 64 MiB with the filesystem nearly full (should fall back)");
  expect_tier(b, "near", "second 64 MiB (no space)");
  void* c = calloc(1, 64 * kMiB);
  CHECK(c, "calloc 64 MiB with the filesystem nearly full");
  expect_tier(c, "near", "calloc 64 MiB (no space)");
  expect_zero(c, 64 * kMiB, "calloc (no space)");
  tm_fill(a, 64 * kMiB, 1);
  tm_fill(b, 64 * kMiB, 2);
  expect_pattern(a, 64 * kMiB, 1, "a");
  expect_pattern(b, 64 * kMiB, 2, "b");
  uint64_t used = base - df_avail();
  printf("nospace: %llu MiB of the filesystem in use with one 64 MiB block (exact: %s)\n",
         (unsigned long long)(used / kMiB), df_slack() ? "no" : "yes");
  if (!df_slack()) CHECK(used == 64 * kMiB, "%llu bytes in use, expected exactly 64 MiB", (unsigned long long)used);
  CHECK(dir_maps().files == 1, "%d files mapped, expected 1 (the failed attempts leave none)", dir_maps().files);
  CHECK(dir_entries() == 0, "%s not empty", g_dir);
  free(a);
  free(b);
  free(c);
  CHECK(df_avail() == base || df_slack(), "space not returned exactly: %llu -> %llu", (unsigned long long)base,
        (unsigned long long)df_avail());
  expect_df_back(base, "after free");
  // And the space is usable again.
  void* d = malloc(64 * kMiB);
  CHECK(d, "malloc");
  expect_tier(d, "scratch", "64 MiB after the space came back");
  free(d);
  printf("nospace: OK\n");
  return 0;
}

// ---------------------------------------------------------------------------------------
int mode_vm() {
  const uint64_t base = df_avail();
  char* a = static_cast<char*>(malloc(64 * kMiB));
  char* b = static_cast<char*>(calloc(100, kMiB));
  CHECK(a && b, "allocation");
  expect_tier(a, "scratch", "64 MiB");
  expect_tier(b, "scratch", "calloc 100 MiB");
  expect_zero(b, 100 * kMiB, "calloc 100 MiB");
  tm_fill(a, 64 * kMiB, 31);
  tm_fill(b, 100 * kMiB, 32);
  CHECK(msync(a, 64 * kMiB, MS_SYNC) == 0, "msync: %s", strerror(errno));
  expect_pattern(a, 64 * kMiB, 31, "64 MiB block");
  expect_pattern(b, 100 * kMiB, 32, "100 MiB block");
  MapInfo mi = dir_maps();
  CHECK(mi.files == 2 && mi.deleted == 2, "%d files of %s mapped (%d unlinked), expected 2", mi.files, g_dir, mi.deleted);
  CHECK(dir_entries() == 0, "%s has entries while blocks are live", g_dir);
  expect_file_mode();
  uint64_t used = base - df_avail();
  printf("vm: %llu MiB of %s in use for 164 MiB of blocks\n", (unsigned long long)(used / kMiB), g_dir);
  CHECK(used + df_slack() >= 164 * kMiB, "only %llu MiB in use", (unsigned long long)(used / kMiB));
  free(b);
  // realloc on pmem: the file grows (fallocate) and its mapping with it (mremap), then
  // shrinks and gives the space back -- the same file throughout, the bytes never copied.
  unsigned long ino = dir_maps().first_ino;
  a = static_cast<char*>(realloc(a, 150 * kMiB));
  CHECK(a, "realloc 64 -> 150 MiB");
  expect_pattern(a, 64 * kMiB, 31, "realloc 64 -> 150 MiB");
  mi = dir_maps();
  CHECK(mi.files == 1 && mi.first_ino == ino && mi.bytes == 150 * kMiB,
        "after growing: %d files, inode %lu (was %lu), %zu bytes mapped", mi.files, mi.first_ino, ino, mi.bytes);
  tm_fill(a, 150 * kMiB, 33);
  CHECK(msync(a, 150 * kMiB, MS_SYNC) == 0, "msync after growing: %s", strerror(errno));
  a = static_cast<char*>(realloc(a, 40 * kMiB));
  CHECK(a, "realloc 150 -> 40 MiB");
  expect_pattern(a, 40 * kMiB, 33, "realloc 150 -> 40 MiB");
  used = base - df_avail();
  CHECK(used <= 40 * kMiB + df_slack(), "after shrinking to 40 MiB: %llu MiB in use", (unsigned long long)(used / kMiB));
  printf("vm: realloc grew the file to 150 MiB and shrank it to 40 MiB in place (inode %lu)\n", ino);
  free(a);
  CHECK(dir_maps().files == 0, "files still mapped after free");
  expect_df_back(base, "after free");
  printf("vm: OK\n");
  return 0;
}

// ---------------------------------------------------------------------------------------
constexpr int kThreads = 4, kIters = 40;
std::atomic<int> g_on_scratch{0}, g_max_on_scratch{0}, g_near_count{0};
std::atomic<void*> g_handoff[kThreads];

void* worker(void* arg) {
  const int id = static_cast<int>(reinterpret_cast<intptr_t>(arg));
  for (int i = 0; i < kIters; ++i) {
    const uint32_t seed = static_cast<uint32_t>(id * 1000 + i);
    char* p = static_cast<char*>(i % 3 ? malloc(kRule) : calloc(1, kRule));
    CHECK(p, "thread %d: allocation %d failed", id, i);
    bool scratch = !strcmp(tier_name(p), "scratch");
    CHECK(scratch || !strcmp(tier_name(p), "near"), "thread %d: block on tier %s", id, tier_name(p));
    if (scratch) {
      int now = ++g_on_scratch, m = g_max_on_scratch.load();
      while (now > m && !g_max_on_scratch.compare_exchange_weak(m, now)) {
      }
    } else {
      g_near_count++;
    }
    if (i % 3 == 0) expect_zero(p, kRule, "calloc in a thread");
    tm_fill(p, kRule, seed);
    sched_yield();
    expect_pattern(p, kRule, seed, "thread block");
    if (scratch) --g_on_scratch;
    // Every other block is freed by the next thread.
    if (i % 2) {
      free(p);
    } else {
      void* old = g_handoff[(id + 1) % kThreads].exchange(p);
      if (old) free(old);
    }
  }
  return nullptr;
}

int mode_threads() {  // size: 96MiB
  pthread_t t[kThreads];
  for (int i = 0; i < kThreads; ++i)
    CHECK(pthread_create(&t[i], nullptr, worker, reinterpret_cast<void*>(static_cast<intptr_t>(i))) == 0, "pthread_create");
  for (auto& x : t) pthread_join(x, nullptr);
  for (auto& h : g_handoff) free(h.exchange(nullptr));
  CHECK(dir_maps().files == 0, "%d files still mapped after every free", dir_maps().files);
  CHECK(dir_entries() == 0, "%s not empty", g_dir);
  // Handed-off blocks stay live a while, so the count of blocks on scratch at once is not
  // bounded here; the budget is checked in the statistics (file_bytes_peak <= size).
  printf("threads: %d blocks, %d on near; at most %d on scratch being worked on at once; OK\n", kThreads * kIters,
         g_near_count.load(), g_max_on_scratch.load());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  CHECK(argc >= 3, "usage: %s MODE DIR [ARGS]", argv[0]);
  g_dir = argv[2];
  g_dirlen = strlen(g_dir);
  g_tier_of = tm_tier_of_sym();
  g_tier_name = tm_tier_name_sym();
  CHECK(g_tier_of && g_tier_name, "not running under libtiermalloc.so (LD_PRELOAD)");
  CHECK(tm_tier_index("scratch") > 0 && tm_tier_index("near") > 0, "the policy has no tiers scratch and near");
  const char* m = argv[1];
  if (!strcmp(m, "basic")) return mode_basic();
  if (!strcmp(m, "realloc")) return mode_realloc();
  if (!strcmp(m, "budget")) return mode_budget();
  if (!strcmp(m, "closefds")) return mode_closefds();
  if (!strcmp(m, "fork")) return mode_fork();
  if (!strcmp(m, "forkrace")) return mode_forkrace();
  if (!strcmp(m, "hold")) return mode_hold(argc, argv);
  if (!strcmp(m, "stats")) return mode_stats();
  if (!strcmp(m, "nospace")) return mode_nospace();
  if (!strcmp(m, "threads")) return mode_threads();
  if (!strcmp(m, "vm")) return mode_vm();
  CHECK(false, "unknown mode %s", m);
}
