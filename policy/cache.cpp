// SPDX-License-Identifier: MIT
// policy/cache.cpp -- see cache.hpp.
#include "policy/cache.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace tiermalloc::policy {
namespace {

constexpr char kMagic[8] = {'T', 'M', 'P', 'C', 'v', '2', '\n', 0};

void put_u64(std::string* s, uint64_t v) { s->append(reinterpret_cast<const char*>(&v), sizeof v); }
void put_str(std::string* s, const std::string& v) {
  put_u64(s, v.size());
  s->append(v);
}
void put_f64(std::string* s, double v) { s->append(reinterpret_cast<const char*>(&v), sizeof v); }

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

std::string file_for(const std::string& dir, const std::string& key) {
  // "/%016llx.tmpc", written by hand: snprintf would be pages of libc.so that a C program
  // does not otherwise touch, on every process's start-up (issue 7).
  char name[] = "/0123456789abcdef.tmpc";
  uint64_t h = fnv1a(key);
  for (int i = 16; i >= 1; --i, h >>= 4) name[i] = "0123456789abcdef"[h & 15];
  return dir + name;
}

// The object this code is linked into (libtiermalloc.so): a rebuilt library may lay out
// CompiledPolicy differently, so its identity is part of the key.
std::string build_identity() {
  Dl_info info{};
  struct stat st {};
  std::string id;
  if (dladdr(reinterpret_cast<void*>(&build_identity), &info) && info.dli_fname && stat(info.dli_fname, &st) == 0) {
    id = info.dli_fname;
    put_u64(&id, static_cast<uint64_t>(st.st_ino));
    put_u64(&id, static_cast<uint64_t>(st.st_size));
    put_u64(&id, static_cast<uint64_t>(st.st_mtim.tv_sec));
    put_u64(&id, static_cast<uint64_t>(st.st_mtim.tv_nsec));
  }
  return id;
}

bool all_zero(const unsigned char* p, size_t n) {
  size_t i = 0;
  for (uint64_t w; i + 8 <= n; i += 8) {
    std::memcpy(&w, p + i, 8);
    if (w) return false;
  }
  for (; i < n; ++i)
    if (p[i]) return false;
  return true;
}

// n bytes at offset off of fd into *out.
bool read_at(int fd, size_t off, size_t n, std::string* out) {
  out->resize(n);
  size_t done = 0;
  while (done < n) {
    ssize_t k = pread(fd, &(*out)[done], n - done, static_cast<off_t>(off + done));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    done += static_cast<size_t>(k);
  }
  return true;
}

// A CompiledPolicy from offset off of fd into *out, one page of *out at a time through a
// page-sized buffer: a page that is zero in the file and in *out is not written (most of a
// policy is unused rule and tier slots, and the preload library's copy lives in .bss, so
// such pages are never touched: ~100 KiB less resident memory per process).
bool read_policy_at(int fd, size_t off, CompiledPolicy* out) {
  constexpr size_t kPage = 4096;
  alignas(16) unsigned char buf[kPage];
  auto* dst = reinterpret_cast<unsigned char*>(out);
  const size_t size = sizeof(CompiledPolicy);
  size_t pos = 0;
  while (pos < size) {
    // Chunks end at page boundaries of *out.
    size_t n = kPage - (reinterpret_cast<uintptr_t>(dst + pos) & (kPage - 1));
    if (n > size - pos) n = size - pos;
    size_t done = 0;
    while (done < n) {
      ssize_t k = pread(fd, buf + done, n - done, static_cast<off_t>(off + pos + done));
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) return false;
      done += static_cast<size_t>(k);
    }
    if (!all_zero(buf, n) || !all_zero(dst + pos, n)) std::memcpy(dst + pos, buf, n);
    pos += n;
  }
  return true;
}

bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// DIR exists (or is created), is a directory owned by us, and others have no access.
bool usable_dir(const std::string& dir) {
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT || mkdir(dir.c_str(), 0700) != 0) {
      if (errno != EEXIST) return false;
    }
    if (lstat(dir.c_str(), &st) != 0) return false;
  }
  return S_ISDIR(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & 077) == 0;
}

struct Reader {
  const std::string& s;
  size_t off = 0;
  bool ok = true;
  bool take(void* p, size_t n) {
    if (!ok || s.size() - off < n) return ok = false;
    std::memcpy(p, s.data() + off, n);
    off += n;
    return true;
  }
  uint64_t u64() {
    uint64_t v = 0;
    take(&v, sizeof v);
    return v;
  }
  bool equals(const std::string& want) {
    uint64_t n = u64();
    if (!ok || n != want.size() || s.size() - off < n || s.compare(off, n, want) != 0) return ok = false;
    off += n;
    return true;
  }
  std::string str() {
    uint64_t n = u64();
    if (!ok || s.size() - off < n) {
      ok = false;
      return {};
    }
    std::string v = s.substr(off, n);
    off += n;
    return v;
  }
};

}  // namespace

std::string cache_key(const std::string& policy_text, const std::string& policy_path, double hbw_threshold,
                      const std::string& sysfs_root, const std::string& overrides, const topo::Machine& m) {
  std::string k;
  put_u64(&k, sizeof(CompiledPolicy));
  put_str(&k, build_identity());
  put_str(&k, policy_text);
  put_str(&k, policy_path);
  put_f64(&k, hbw_threshold);
  put_str(&k, sysfs_root);
  put_str(&k, overrides);
  // The machine as compile sees it, but for the nodes' free memory (see cache_read's caller).
  put_str(&k, m.provider);
  put_u64(&k, m.initiators.size());
  for (int i : m.initiators) put_u64(&k, static_cast<uint64_t>(i));
  put_u64(&k, m.nodes.size());
  for (const auto& n : m.nodes) {
    put_u64(&k, static_cast<uint64_t>(n.id));
    put_u64(&k, n.has_cpus);
    put_str(&k, n.cpus);
    put_u64(&k, n.capacity);
    for (double d : {n.read_bw, n.write_bw, n.read_lat, n.write_lat, n.peak_bw, n.peak_lat}) put_f64(&k, d);
    put_u64(&k, static_cast<uint64_t>(n.distance));
    put_str(&k, n.source);
    put_str(&k, n.kind);
    put_str(&k, n.kind_source);
    for (const auto* v : {&n.cpu_ids, &n.hmat_initiators, &n.dist_row}) {
      put_u64(&k, v->size());
      for (int x : *v) put_u64(&k, static_cast<uint64_t>(x));
    }
  }
  return k;
}

bool cache_read(const std::string& dir, const std::string& key, CompiledPolicy* out, std::vector<std::string>* notes,
                std::vector<std::string>* programs, std::string* file) {
  std::string path = file_for(dir, key);
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  // Read in three parts, the ~140 KB CompiledPolicy last and straight into *out (not through
  // a buffer of the whole file): the header and key, compared; the notes and programs after
  // the policy, checked; then the policy.  Only when all is well is *out written.
  const size_t head = sizeof kMagic + sizeof(uint64_t) + key.size() + sizeof(uint64_t);
  std::string data, tail;
  bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & 077) == 0 &&
            st.st_size < (64 << 20) && static_cast<size_t>(st.st_size) >= head + sizeof(CompiledPolicy) &&
            read_at(fd, 0, head, &data) &&
            read_at(fd, head + sizeof(CompiledPolicy), static_cast<size_t>(st.st_size) - head - sizeof(CompiledPolicy), &tail);
  if (!ok) {
    close(fd);
    return false;
  }
  Reader r{data};
  char magic[sizeof kMagic];
  if (!r.take(magic, sizeof magic) || std::memcmp(magic, kMagic, sizeof magic) != 0 || !r.equals(key) ||
      r.u64() != sizeof(CompiledPolicy)) {
    close(fd);
    return false;
  }
  Reader t{tail};
  std::vector<std::string> n, progs;
  uint64_t count = t.u64();
  for (uint64_t i = 0; t.ok && i < count && i < 4096; ++i) n.push_back(t.str());
  uint64_t nprogs = t.u64();
  for (uint64_t i = 0; t.ok && i < nprogs && i < 4096; ++i) progs.push_back(t.str());
  if (!t.ok || n.size() != count || progs.size() != nprogs || t.off != tail.size()) {
    close(fd);
    return false;
  }
  ok = read_policy_at(fd, head, out);
  close(fd);
  if (!ok) return false;
  notes->insert(notes->end(), n.begin(), n.end());
  *programs = std::move(progs);
  if (file) *file = path;
  return true;
}

bool cache_write(const std::string& dir, const std::string& key, const CompiledPolicy& c,
                 const std::vector<std::string>& notes, const std::vector<std::string>& programs) {
  if (!usable_dir(dir)) return false;
  std::string data(kMagic, sizeof kMagic);
  put_str(&data, key);
  put_u64(&data, sizeof(CompiledPolicy));
  data.append(reinterpret_cast<const char*>(&c), sizeof c);
  put_u64(&data, notes.size());
  for (const auto& n : notes) put_str(&data, n);
  put_u64(&data, programs.size());
  for (const auto& p : programs) put_str(&data, p);
  std::string path = file_for(dir, key);
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, ".%d.tmp", static_cast<int>(getpid()));
  std::string tmp = path + suffix;
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = write_all(fd, data);
  ok = close(fd) == 0 && ok;
  if (ok && rename(tmp.c_str(), path.c_str()) == 0) return true;
  unlink(tmp.c_str());
  return false;
}

std::string default_cache_dir(const char* cache_env, const char* cache_dir_env, const char* xdg_runtime_dir) {
  if (cache_env && std::strcmp(cache_env, "0") == 0) return "";
  if (cache_dir_env && *cache_dir_env) return cache_dir_env;
  if (xdg_runtime_dir && *xdg_runtime_dir == '/') return std::string(xdg_runtime_dir) + "/tiermalloc";
  return "/tmp/tiermalloc-" + std::to_string(geteuid());
}

}  // namespace tiermalloc::policy
