// SPDX-License-Identifier: MIT
// policy/callsite.cpp -- a return address, named: the module containing it (path, load bias),
// the exported symbol containing it (what dladdr answers), else the function of the ELF
// symbol table (.symtab, which dladdr does not read: it names static and hidden functions too)
// of the file on disk containing it.
//
// Fast path: _dl_find_object (lock-free, O(log modules)) finds the module; once per module a
// table of the .dynsym symbols dladdr would consider (read in memory through the module's
// dynamic section and GNU hash table), cut into disjoint address ranges each with dladdr's
// answer, is built; once per module, when a pc first misses every exported symbol, the same
// for the file's .symtab (or the module is remembered as having none).  A lookup is then two
// binary searches.  The tables live in raw mmap memory (this runs inside the allocator) and are
// never freed; modules are keyed by link_map pointer, load bias, dynamic section and name, so
// a library dlclose'd and replaced by another at the same address is not named from the old
// one's table.  Whatever the fast path cannot answer exactly (no _dl_find_object, a module
// without DT_GNU_HASH or with addresses past 4 GiB, a pc outside the module's executable
// segments, the caps below reached, another thread building a table right now) takes the
// original code path (resolve_slow): dladdr1 twice, readlink, the .symtab scan.
#include "policy/callsite.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

namespace tiermalloc::policy {
namespace {

void copy(char* dst, size_t n, const char* src) {
  size_t i = 0;
  for (; src && src[i] && i + 1 < n; ++i) dst[i] = src[i];
  dst[i] = 0;
}

// ---- the original code path (also the fallback) -------------------------------------------

// The symbol tables (SHT_SYMTAB) of an ELF64 file mapped at base (size bytes) whose symbols
// and string table lie inside it, in section order: f(symbols, strings) for each until f
// returns true.  Shared by the fallback's lookup and build_symtab, which must agree.
template <class F>
void each_symtab(const unsigned char* base, size_t size, F f) {
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(base);
  bool ok = std::memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
            eh->e_shoff && eh->e_shentsize == sizeof(Elf64_Shdr) &&
            eh->e_shoff + static_cast<size_t>(eh->e_shnum) * sizeof(Elf64_Shdr) <= size;
  const auto* shdr = reinterpret_cast<const Elf64_Shdr*>(base + eh->e_shoff);
  for (int i = 0; ok && i < eh->e_shnum; ++i) {
    const Elf64_Shdr* sh = shdr + i;
    if (sh->sh_type != SHT_SYMTAB || sh->sh_link >= eh->e_shnum) continue;
    const Elf64_Shdr* strh = shdr + sh->sh_link;
    if (sh->sh_offset + sh->sh_size > size || strh->sh_offset + strh->sh_size > size) continue;
    if (f(sh, strh)) return;
  }
}

// Looks addr (a file virtual address) up in the .symtab of the ELF file at path.
bool symtab_lookup(const char* path, uintptr_t addr, char* out, size_t n) {
  int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC));
  if (fd < 0) return false;
  struct stat st;
  bool found = false;
  if (fstat(fd, &st) == 0 && st.st_size > static_cast<off_t>(sizeof(Elf64_Ehdr))) {
    size_t size = static_cast<size_t>(st.st_size);
    void* map = reinterpret_cast<void*>(syscall(SYS_mmap, nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0));
    if (map != MAP_FAILED) {
      const auto* base = static_cast<const unsigned char*>(map);
      each_symtab(base, size, [&](const Elf64_Shdr* sh, const Elf64_Shdr* strh) {
        const auto* sym = reinterpret_cast<const Elf64_Sym*>(base + sh->sh_offset);
        size_t count = sh->sh_size / sizeof(Elf64_Sym);
        for (size_t k = 0; k < count && !found; ++k) {
          if (ELF64_ST_TYPE(sym[k].st_info) != STT_FUNC || sym[k].st_value == 0) continue;
          if (addr < sym[k].st_value || addr >= sym[k].st_value + (sym[k].st_size ? sym[k].st_size : 1)) continue;
          if (sym[k].st_name >= strh->sh_size) continue;
          copy(out, n, reinterpret_cast<const char*>(base + strh->sh_offset + sym[k].st_name));
          found = true;
        }
        return found;
      });
      syscall(SYS_munmap, map, size);
    }
  }
  syscall(SYS_close, fd);
  return found;
}

bool resolve_slow(uintptr_t ra, SiteName* out) {
  // ra is the instruction after the call: ra - 1 is still inside the calling function.
  uintptr_t pc = ra ? ra - 1 : 0;
  Dl_info info;
  struct link_map* lm = nullptr;
  if (!dladdr1(reinterpret_cast<void*>(pc), &info, reinterpret_cast<void**>(&lm), RTLD_DL_LINKMAP) || !lm) return false;
  copy(out->module, sizeof out->module, info.dli_fname);
  if (!out->module[0] || lm->l_name == nullptr || !lm->l_name[0]) {
    // The main program: dladdr names it by argv[0] at best.
    ssize_t n = readlink("/proc/self/exe", out->module, sizeof out->module - 1);
    out->module[n > 0 ? n : 0] = 0;
  }
  out->offset = ra - lm->l_addr;
  // dladdr names the nearest exported symbol below pc, whether or not pc lies inside it:
  // trust it only within the symbol's size, else read the full symbol table.
  void* symp = nullptr;
  Dl_info info2;
  bool have = info.dli_sname && info.dli_saddr && dladdr1(reinterpret_cast<void*>(pc), &info2, &symp, RTLD_DL_SYMENT);
  const auto* sym = static_cast<const ElfW(Sym)*>(symp);
  bool inside = have && sym &&
                pc < reinterpret_cast<uintptr_t>(info.dli_saddr) + (sym->st_size ? sym->st_size : 1);
  if (inside) copy(out->symbol, sizeof out->symbol, info.dli_sname);
  else symtab_lookup(out->module, pc - lm->l_addr, out->symbol, sizeof out->symbol);
  return true;
}

// ---- raw memory ----------------------------------------------------------------------------

constexpr size_t kPage = 4096;
constexpr size_t kMaxModules = 256;          // modules with a cached table (table of 512 slots)
constexpr size_t kSlots = 512;
constexpr size_t kMaxEntries = size_t{1} << 22;  // symbols of one table
constexpr size_t kMaxTableBytes = size_t{64} << 20;  // all tables together
constexpr int kMaxExec = 8;                  // executable PT_LOAD segments of one module

size_t round_page(size_t n) { return (n + kPage - 1) & ~(kPage - 1); }

void* raw_map(size_t n) {
  void* p = reinterpret_cast<void*>(
      syscall(SYS_mmap, nullptr, round_page(n), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  return p == MAP_FAILED ? nullptr : p;
}
void raw_unmap(void* p, size_t n) {
  if (p) syscall(SYS_munmap, p, round_page(n));
}

// ---- address-range tables ------------------------------------------------------------------

// One symbol considered: [lo, hi) in file virtual addresses, its name (string table offset)
// and its place in the order the old code met it.
struct Entry {
  uint32_t lo, hi, name, order;
};
// One range of the finished table: every address in [lo, hi) has this name.
struct Seg {
  uint32_t lo, hi, name;
};
struct Table {
  const Seg* seg = nullptr;
  uint32_t n = 0;
  const char* strtab = nullptr;
};

constexpr uint32_t kRadix = 2048;  // 11-bit digits: two passes for a module under 4 MiB

// Stable sort of v[0..n) by key(v[i]) (LSD radix; tmp holds n, cnt kRadix).  std::sort at -Os
// cost ~300 instructions an entry, most of a module's set-up.
template <class T, class Key>
void radix_sort(T* v, T* tmp, uint32_t n, uint32_t* cnt, Key key) {
  uint32_t all = 0;
  for (uint32_t i = 0; i < n; ++i) all |= key(v[i]);
  T *src = v, *dst = tmp;
  for (uint32_t shift = 0; shift < 32 && (all >> shift); shift += 11) {
    std::memset(cnt, 0, sizeof(uint32_t) * kRadix);
    for (uint32_t i = 0; i < n; ++i) ++cnt[(key(src[i]) >> shift) & (kRadix - 1)];
    for (uint32_t d = 0, sum = 0; d < kRadix; ++d) {
      uint32_t c = cnt[d];
      cnt[d] = sum;
      sum += c;
    }
    for (uint32_t i = 0; i < n; ++i) dst[cnt[(key(src[i]) >> shift) & (kRadix - 1)]++] = src[i];
    T* t = src;
    src = dst, dst = t;
  }
  if (src != v) std::memcpy(v, src, sizeof(T) * n);
}

// Cuts e[0..n) (sorted by start) into disjoint ranges, each named by the best entry
// containing it (by_start: the one starting last, else the one met first; among equals the
// one met first): a sweep over the starts and the sorted ends with a heap of the open entries.
// out holds 2n.
uint32_t sweep(const Entry* e, uint32_t n, bool by_start, const uint32_t* ends, uint32_t* heap, Seg* out) {
  auto better = [e, by_start](uint32_t a, uint32_t b) {
    if (by_start && e[a].lo != e[b].lo) return e[a].lo > e[b].lo;
    return e[a].order < e[b].order;
  };
  uint32_t hn = 0, i = 0, j = 0, m = 0;
  auto push = [&](uint32_t x) {
    uint32_t k = hn++;
    while (k && better(x, heap[(k - 1) / 2])) heap[k] = heap[(k - 1) / 2], k = (k - 1) / 2;
    heap[k] = x;
  };
  auto pop = [&]() {
    uint32_t x = heap[--hn], k = 0;
    for (;;) {
      uint32_t c = 2 * k + 1;
      if (c >= hn) break;
      if (c + 1 < hn && better(heap[c + 1], heap[c])) ++c;
      if (!better(heap[c], x)) break;
      heap[k] = heap[c], k = c;
    }
    if (hn) heap[k] = x;
  };
  constexpr uint64_t kInf = uint64_t{1} << 32;
  while (i < n || j < n) {
    uint64_t b = std::min<uint64_t>(i < n ? e[i].lo : kInf, j < n ? ends[j] : kInf);
    while (i < n && e[i].lo == b) push(i++);
    while (j < n && ends[j] == b) ++j;
    while (hn && e[heap[0]].hi <= b) pop();
    if (!hn) continue;
    uint64_t next = std::min<uint64_t>(i < n ? e[i].lo : kInf, j < n ? ends[j] : kInf);
    uint32_t name = e[heap[0]].name;
    if (m && out[m - 1].hi == b && out[m - 1].name == name) out[m - 1].hi = static_cast<uint32_t>(next);
    else out[m++] = Seg{static_cast<uint32_t>(b), static_cast<uint32_t>(next), name};
  }
  return m;
}

std::atomic<size_t> g_table_bytes{0};

// Builds t from e[0..n), given in the order met (it sorts them; by_start: see sweep).
// False when out of memory or over the caps.
bool build_table(Entry* e, uint32_t n, bool by_start, Table* t) {
  t->n = 0;
  t->seg = nullptr;
  if (n == 0) return true;
  size_t segbytes = sizeof(Seg) * 2 * static_cast<size_t>(n);
  if (g_table_bytes.load(std::memory_order_relaxed) + round_page(segbytes) > kMaxTableBytes) return false;
  size_t tmpbytes = sizeof(Entry) * n + sizeof(uint32_t) * (3 * static_cast<size_t>(n) + kRadix);
  auto* tmp = static_cast<char*>(raw_map(tmpbytes));
  auto* seg = static_cast<Seg*>(raw_map(segbytes));
  if (!tmp || !seg) {
    raw_unmap(tmp, tmpbytes);
    raw_unmap(seg, segbytes);
    return false;
  }
  auto* etmp = reinterpret_cast<Entry*>(tmp);
  auto* cnt = reinterpret_cast<uint32_t*>(etmp + n);
  uint32_t* ends = cnt + kRadix;
  uint32_t* aux = ends + n;  // the ends' radix buffer, then the sweep's heap
  radix_sort(e, etmp, n, cnt, [](const Entry& x) { return x.lo; });
  // Usually the symbols are disjoint but for aliases (same start and end: the first met names
  // them; the sort is stable): one pass.  Any other overlap takes the sweep.
  uint32_t m = 0;
  bool simple = true;
  for (uint32_t i = 0; i < n && simple; ++i) {
    if (m && seg[m - 1].lo == e[i].lo && seg[m - 1].hi == e[i].hi) continue;
    if (m && seg[m - 1].hi > e[i].lo) simple = false;
    else seg[m++] = Seg{e[i].lo, e[i].hi, e[i].name};
  }
  if (!simple) {
    for (uint32_t i = 0; i < n; ++i) ends[i] = e[i].hi;
    radix_sort(ends, aux, n, cnt, [](uint32_t x) { return x; });
    m = sweep(e, n, by_start, ends, aux, seg);
  }
  raw_unmap(tmp, tmpbytes);
  // Give back the unused tail (the table is usually about half of 2n).
  size_t used = round_page(sizeof(Seg) * m), have = round_page(segbytes);
  if (used < have) syscall(SYS_munmap, reinterpret_cast<char*>(seg) + used, have - used);
  g_table_bytes.fetch_add(used, std::memory_order_relaxed);
  t->seg = seg;
  t->n = m;
  return true;
}

// The segment of t containing a, or null.
const Seg* find(const Table& t, uintptr_t a) {
  if (a >= (uintptr_t{1} << 32)) return nullptr;
  uint32_t lo = 0, hi = t.n;  // first segment with seg.lo > a
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    if (t.seg[mid].lo <= a) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return nullptr;
  const Seg* s = &t.seg[lo - 1];
  return a < s->hi ? s : nullptr;
}

// ---- modules -------------------------------------------------------------------------------

enum : uint32_t { kSymUnknown = 0, kSymNone = 1, kSymReady = 2, kSymSlow = 3 };

struct Module {
  std::atomic<uint32_t> ready;  // 1 once every field below but sym* is written
  const struct link_map* lm;
  uintptr_t l_addr;
  const void* l_ld;
  bool is_main;  // l_name is "": path is /proc/self/exe's target
  bool slow;     // the fast path cannot answer for this module: take resolve_slow
  int nexec;
  uint32_t exec_lo[kMaxExec], exec_hi[kMaxExec];  // executable PT_LOAD segments, file addresses
  Table dyn;
  std::atomic<uint32_t> sym_state;
  Table sym;
  char path[512];
};

std::atomic<Module*> g_modules{nullptr};  // kSlots of them, open addressing by link_map
std::atomic<size_t> g_nmodules{0};
// The builders' lock: 0, or the pid of the process one of whose threads holds it.  A child
// forked while a thread of its parent held it finds the parent's pid there and takes it over:
// whatever that thread had half built was not published yet and is simply left behind.
std::atomic<long> g_build_lock{0};

bool try_lock() {
  long me = syscall(SYS_getpid);
  long cur = 0;
  if (g_build_lock.compare_exchange_strong(cur, me, std::memory_order_acquire)) return true;
  return cur != me && g_build_lock.compare_exchange_strong(cur, me, std::memory_order_acquire);
}
void unlock() { g_build_lock.store(0, std::memory_order_release); }

size_t slot_of(const void* lm) {
  return static_cast<size_t>((reinterpret_cast<uintptr_t>(lm) * 0x9E3779B97F4A7C15ull) >> 40) & (kSlots - 1);
}

bool same_module(const Module& m, const struct link_map* lm) {
  if (m.lm != lm || m.l_addr != lm->l_addr || m.l_ld != lm->l_ld) return false;
  if (m.slow) return true;  // answered by resolve_slow whatever it is: no need to tell
  const char* name = lm->l_name ? lm->l_name : "";
  return m.is_main ? name[0] == 0 : std::strcmp(m.path, name) == 0;
}

Module* find_module(const struct link_map* lm) {
  Module* tab = g_modules.load(std::memory_order_acquire);
  if (!tab) return nullptr;
  for (size_t i = 0, h = slot_of(lm); i < kSlots; ++i) {
    Module& m = tab[(h + i) & (kSlots - 1)];
    if (!m.ready.load(std::memory_order_acquire)) return nullptr;
    if (same_module(m, lm)) return &m;
  }
  return nullptr;
}

struct PhdrQuery {
  const struct link_map* lm;
  const ElfW(Phdr)* phdr;
  int phnum;
};

int find_phdrs(struct dl_phdr_info* info, size_t, void* data) {
  auto* q = static_cast<PhdrQuery*>(data);
  if (info->dlpi_name != q->lm->l_name || info->dlpi_addr != q->lm->l_addr) return 0;
  q->phdr = info->dlpi_phdr;
  q->phnum = info->dlpi_phnum;
  return 1;
}

// The .dynsym symbols dladdr (glibc's _dl_addr, determine_info) considers, in the order it
// considers them: the GNU hash table's buckets and chains.  Of those containing an address it
// answers the one with the highest st_value, the first seen among equals.
bool build_dynsym(Module* m, uintptr_t lo_map, uintptr_t hi_map) {
  const ElfW(Sym)* symtab = nullptr;
  const char* strtab = nullptr;
  const uint32_t* gnu_hash = nullptr;
  size_t strsz = 0;
  bool have_strsz = false;
  // The dynamic section's addresses are relocated in place by ld.so unless it is read-only
  // (the vDSO): take a value as an address if it falls in the module, else add the bias.
  auto addr = [&](ElfW(Addr) v) -> uintptr_t {
    if (v >= lo_map && v < hi_map) return v;
    uintptr_t r = v + m->l_addr;
    return r >= lo_map && r < hi_map ? r : 0;
  };
  for (const auto* d = static_cast<const ElfW(Dyn)*>(m->l_ld); d->d_tag != DT_NULL; ++d) {
    switch (d->d_tag) {
      case DT_SYMTAB: symtab = reinterpret_cast<const ElfW(Sym)*>(addr(d->d_un.d_ptr)); break;
      case DT_STRTAB: strtab = reinterpret_cast<const char*>(addr(d->d_un.d_ptr)); break;
      case DT_GNU_HASH: gnu_hash = reinterpret_cast<const uint32_t*>(addr(d->d_un.d_ptr)); break;
      case DT_STRSZ: strsz = d->d_un.d_val, have_strsz = true; break;
      default: break;
    }
  }
  m->dyn.strtab = strtab;
  if (!symtab || !strtab || !gnu_hash || !have_strsz) return false;  // DT_HASH only: glibc filters otherwise
  uint32_t nbuckets = gnu_hash[0], symoffset = gnu_hash[1], bloom_size = gnu_hash[2];
  const auto* buckets = reinterpret_cast<const uint32_t*>(reinterpret_cast<const ElfW(Addr)*>(gnu_hash + 4) + bloom_size);
  const uint32_t* chain_zero = buckets + nbuckets - symoffset;
  // The chains hold symbols symoffset.. up to the end of the last bucket's chain: room for
  // all of them, then one pass.
  uint32_t last = 0;
  for (uint32_t b = 0; b < nbuckets; ++b) last = std::max(last, buckets[b]);
  if (last >= symoffset)
    while ((chain_zero[last] & 1u) == 0) ++last;
  size_t cap = last >= symoffset ? last + 1 - symoffset : 0;
  if (cap > kMaxEntries) return false;
  size_t n = 0, ebytes = sizeof(Entry) * (cap ? cap : 1);
  auto* e = static_cast<Entry*>(raw_map(ebytes));
  if (!e) return false;
  bool ok = true;
  uint32_t order = 0;
  for (uint32_t b = 0; b < nbuckets && ok; ++b) {
    uint32_t symndx = buckets[b];
    if (symndx == 0) continue;
    const uint32_t* hasharr = &chain_zero[symndx];
    do {
      symndx = static_cast<uint32_t>(hasharr - chain_zero);
      const ElfW(Sym)& s = symtab[symndx];
      ++order;
      if ((s.st_shndx != SHN_UNDEF || s.st_value != 0) && s.st_shndx != SHN_ABS &&
          ELF64_ST_TYPE(s.st_info) != STT_TLS && s.st_name < strsz) {
        uint64_t lo = s.st_value, hi = s.st_value + (s.st_size ? s.st_size : 1);
        bool exec = false;
        for (int k = 0; k < m->nexec; ++k) exec |= lo < m->exec_hi[k] && hi > m->exec_lo[k];
        if (exec) {
          if (hi <= lo || hi > UINT32_MAX || n == cap) ok = false;  // past 4 GiB (or wrapping): not cached
          else e[n++] = Entry{static_cast<uint32_t>(lo), static_cast<uint32_t>(hi), s.st_name, order};
        }
      }
    } while ((*hasharr++ & 1u) == 0);
  }
  ok = ok && build_table(e, static_cast<uint32_t>(n), true, &m->dyn);
  raw_unmap(e, ebytes);
  return ok;
}

// Fills a new module's fields; slow when the fast path cannot serve it.
void build_module(Module* m, const struct link_map* lm) {
  m->lm = lm;
  m->l_addr = lm->l_addr;
  m->l_ld = lm->l_ld;
  m->slow = true;
  m->nexec = 0;
  m->dyn = Table{};
  m->sym = Table{};
  m->sym_state.store(kSymUnknown, std::memory_order_relaxed);
  const char* name = lm->l_name ? lm->l_name : "";
  m->is_main = name[0] == 0;
  m->path[0] = 0;
  if (m->is_main) {
    ssize_t n = readlink("/proc/self/exe", m->path, sizeof m->path - 1);
    if (n <= 0) return;
    m->path[n] = 0;
  } else {
    if (std::strlen(name) >= sizeof m->path) return;
    copy(m->path, sizeof m->path, name);
  }
  PhdrQuery q{lm, nullptr, 0};
  dl_iterate_phdr(find_phdrs, &q);
  if (!q.phdr) return;
  uintptr_t lo_map = UINTPTR_MAX, hi_map = 0;
  for (int i = 0; i < q.phnum; ++i) {
    const ElfW(Phdr)& p = q.phdr[i];
    if (p.p_type != PT_LOAD) continue;
    lo_map = std::min<uintptr_t>(lo_map, m->l_addr + p.p_vaddr);
    hi_map = std::max<uintptr_t>(hi_map, m->l_addr + p.p_vaddr + p.p_memsz);
    if (!(p.p_flags & PF_X)) continue;
    if (m->nexec == kMaxExec || p.p_vaddr + p.p_memsz > UINT32_MAX) return;
    m->exec_lo[m->nexec] = static_cast<uint32_t>(p.p_vaddr);
    m->exec_hi[m->nexec++] = static_cast<uint32_t>(p.p_vaddr + p.p_memsz);
  }
  m->slow = !build_dynsym(m, lo_map, hi_map);
}

// The module of lm, built now if new; null if it cannot be now (lock taken, table full).
Module* module_of(const struct link_map* lm) {
  if (Module* m = find_module(lm)) return m;
  if (g_nmodules.load(std::memory_order_relaxed) >= kMaxModules || !try_lock()) return nullptr;
  Module* tab = g_modules.load(std::memory_order_relaxed);
  if (!tab) {
    tab = static_cast<Module*>(raw_map(sizeof(Module) * kSlots));
    if (tab) g_modules.store(tab, std::memory_order_release);
  }
  Module* m = tab ? find_module(lm) : nullptr;
  if (tab && !m && g_nmodules.load(std::memory_order_relaxed) < kMaxModules) {
    for (size_t i = 0, h = slot_of(lm); i < kSlots; ++i) {
      Module& s = tab[(h + i) & (kSlots - 1)];
      if (s.ready.load(std::memory_order_relaxed)) continue;
      build_module(&s, lm);
      s.ready.store(1, std::memory_order_release);
      g_nmodules.fetch_add(1, std::memory_order_relaxed);
      m = &s;
      break;
    }
  }
  unlock();
  return m;
}

// The .symtab of the module's file: the STT_FUNC symbols symtab_lookup considers, the first
// (lowest index) containing an address winning.  The string table stays mapped (file pages,
// resident only where a name was read); the symbols themselves are unmapped after the build.
uint32_t build_symtab(Module* m) {
  int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, m->path, O_RDONLY | O_CLOEXEC));
  if (fd < 0) {
    int err = errno;
    bool lasting = err == ENOENT || err == ENOTDIR || err == EACCES || err == ELOOP || err == ENAMETOOLONG;
    return lasting ? kSymNone : kSymUnknown;
  }
  uint32_t state = kSymUnknown;
  struct stat st;
  if (fstat(fd, &st) == 0) {
    state = kSymNone;
    size_t size = static_cast<size_t>(st.st_size);
    void* map = st.st_size > static_cast<off_t>(sizeof(Elf64_Ehdr))
                    ? reinterpret_cast<void*>(syscall(SYS_mmap, nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0))
                    : nullptr;
    if (map == MAP_FAILED) state = kSymUnknown;
    else if (map) {
      const auto* base = static_cast<const unsigned char*>(map);
      const Elf64_Shdr *sh = nullptr, *strh = nullptr;
      int nsym = 0;
      each_symtab(base, size, [&](const Elf64_Shdr* s, const Elf64_Shdr* t) {
        if (nsym++ == 0) sh = s, strh = t;
        return false;
      });
      if (nsym > 1) state = kSymSlow;  // several symbol tables: symtab_lookup's order, not cached
      else if (nsym == 1) {
        state = kSymSlow;
        const auto* sym = reinterpret_cast<const Elf64_Sym*>(base + sh->sh_offset);
        size_t count = sh->sh_size / sizeof(Elf64_Sym);
        size_t aoff = strh->sh_offset & ~(kPage - 1);
        size_t ebytes = sizeof(Entry) * (count ? count : 1);
        Entry* e = count <= kMaxEntries && size - aoff <= UINT32_MAX ? static_cast<Entry*>(raw_map(ebytes)) : nullptr;
        size_t n = 0;
        bool fits = e != nullptr;
        for (size_t k = 0; fits && k < count; ++k) {
          const Elf64_Sym& s = sym[k];
          if (ELF64_ST_TYPE(s.st_info) != STT_FUNC || s.st_value == 0 || s.st_name >= strh->sh_size) continue;
          uint64_t lo = s.st_value, hi = s.st_value + (s.st_size ? s.st_size : 1);
          if (hi <= lo) continue;  // wraps: symtab_lookup never matches it
          bool exec = false;
          for (int x = 0; x < m->nexec; ++x) exec |= lo < m->exec_hi[x] && hi > m->exec_lo[x];
          if (!exec) continue;
          if (hi > UINT32_MAX) fits = false;
          else e[n++] = Entry{static_cast<uint32_t>(lo), static_cast<uint32_t>(hi),
                              static_cast<uint32_t>(strh->sh_offset - aoff + s.st_name), static_cast<uint32_t>(k)};
        }
        void* names = nullptr;
        if (fits && n) {
          names = reinterpret_cast<void*>(syscall(SYS_mmap, nullptr, size - aoff, PROT_READ, MAP_PRIVATE, fd, aoff));
          if (names == MAP_FAILED) names = nullptr;
        }
        if (fits && (n == 0 || names) && build_table(e, static_cast<uint32_t>(n), false, &m->sym)) {
          m->sym.strtab = static_cast<const char*>(names);
          state = kSymReady;
        } else if (names) {
          syscall(SYS_munmap, names, size - aoff);
        }
        raw_unmap(e, ebytes);
      }
      syscall(SYS_munmap, map, size);
    }
  }
  syscall(SYS_close, fd);
  return state;
}

// The function of m's .symtab containing a (a file address): building the table first if
// nobody has; answered the old way if the table cannot be had now.
void symtab_name(Module* m, uintptr_t a, char* out, size_t n) {
  uint32_t state = m->sym_state.load(std::memory_order_acquire);
  if (state == kSymUnknown && try_lock()) {
    state = m->sym_state.load(std::memory_order_acquire);
    if (state == kSymUnknown) {
      state = build_symtab(m);
      if (state != kSymUnknown) m->sym_state.store(state, std::memory_order_release);
      else state = kSymSlow;  // a passing failure (out of descriptors...): this time the old way
    }
    unlock();
  }
  if (state == kSymNone) return;
  if (state == kSymReady) {
    if (const Seg* s = find(m->sym, a)) copy(out, n, m->sym.strtab + s->name);
    return;
  }
  symtab_lookup(m->path, a, out, n);
}

bool resolve_fast(uintptr_t ra, SiteName* out) {
#if !defined(__GLIBC__) || __GLIBC__ < 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ < 35)
  (void)ra, (void)out;
  return false;  // no _dl_find_object before glibc 2.35
#else
  uintptr_t pc = ra ? ra - 1 : 0;
  struct dl_find_object dlfo;
  if (_dl_find_object(reinterpret_cast<void*>(pc), &dlfo) != 0 || !dlfo.dlfo_link_map) return false;
  const struct link_map* lm = dlfo.dlfo_link_map;
  Module* m = module_of(lm);
  if (!m || m->slow) return false;
  uintptr_t a = pc - m->l_addr;
  bool exec = false;
  for (int k = 0; k < m->nexec; ++k) exec |= a - m->exec_lo[k] < m->exec_hi[k] - m->exec_lo[k];
  if (!exec) return false;
  copy(out->module, sizeof out->module, m->path);
  out->offset = ra - m->l_addr;
  if (const Seg* s = find(m->dyn, a)) copy(out->symbol, sizeof out->symbol, m->dyn.strtab + s->name);
  else symtab_name(m, a, out->symbol, sizeof out->symbol);
  return true;
#endif
}

}  // namespace

size_t resolve_cached_modules_for_test() { return g_nmodules.load(std::memory_order_acquire); }
void resolve_hold_build_lock_for_test(bool hold) {
  if (hold) g_build_lock.store(static_cast<long>(syscall(SYS_getpid)), std::memory_order_release);
  else unlock();
}

const char* base_name(const char* path) {
  const char* b = path;
  for (const char* p = path; *p; ++p)
    if (*p == '/') b = p + 1;
  return b;
}

namespace {
void clear(SiteName* out) {
  out->module[0] = out->symbol[0] = 0;
  out->offset = 0;
}
}  // namespace

bool resolve_site(uintptr_t ra, SiteName* out) {
  int saved = errno;
  clear(out);
  bool ok = resolve_fast(ra, out);
  if (!ok) {
    clear(out);
    ok = resolve_slow(ra, out);
  }
  errno = saved;
  return ok;
}

bool resolve_site_uncached(uintptr_t ra, SiteName* out) {
  int saved = errno;
  clear(out);
  bool ok = resolve_slow(ra, out);
  errno = saved;
  return ok;
}

}  // namespace tiermalloc::policy
