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
  char name[32];
  std::snprintf(name, sizeof name, "/%016llx.tmpc", static_cast<unsigned long long>(fnv1a(key)));
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

// Exactly size bytes, in one buffer (no growing copies: the file is ~150 KB).
bool read_all(int fd, size_t size, std::string* out) {
  out->resize(size);
  size_t off = 0;
  while (off < size) {
    ssize_t n = read(fd, &(*out)[off], size - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
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
  std::string data;
  bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & 077) == 0 &&
            st.st_size < (64 << 20) && read_all(fd, static_cast<size_t>(st.st_size), &data);
  close(fd);
  if (!ok) return false;
  Reader r{data};
  char magic[sizeof kMagic];
  if (!r.take(magic, sizeof magic) || std::memcmp(magic, kMagic, sizeof magic) != 0) return false;
  if (!r.equals(key)) return false;
  if (r.u64() != sizeof(CompiledPolicy) || data.size() - r.off < sizeof(CompiledPolicy)) return false;
  const size_t body = r.off;
  r.off += sizeof(CompiledPolicy);
  std::vector<std::string> n, progs;
  uint64_t count = r.u64();
  for (uint64_t i = 0; r.ok && i < count && i < 4096; ++i) n.push_back(r.str());
  uint64_t nprogs = r.u64();
  for (uint64_t i = 0; r.ok && i < nprogs && i < 4096; ++i) progs.push_back(r.str());
  if (!r.ok || n.size() != count || progs.size() != nprogs || r.off != data.size()) return false;
  std::memcpy(static_cast<void*>(out), data.data() + body, sizeof(CompiledPolicy));
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
