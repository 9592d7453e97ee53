// SPDX-License-Identifier: MIT
// topology/sysfs.cpp -- NUMA nodes from /sys/devices/system/node: capacity, CPUs, SLIT
// distance and the HMAT access-class figures the kernel exports (nodeN/access{0,1}/initiators).
// This is what hwloc itself reads on Linux; reading it directly keeps hwloc out of every
// process that preloads the library.
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "topology/topology.hpp"

namespace tiermalloc::topo {
namespace {

// The whole of a small file (sysfs attributes are a page at most; 64 KiB read at most), with
// open/read: neither std::ifstream (~15k instructions of locale set-up each, `true` under a
// policy: 300k) nor stdio (fopen, fgets, fclose and the FILE's set-up are pages of libc.so
// that a C program does not otherwise touch, and each FILE has a 4 KiB buffer; issue 7).
bool read_file(const std::string& path, std::string* out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out->clear();
  char buf[512];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out->append(buf, static_cast<size_t>(n));
    if (out->size() >= (64u << 10)) break;
  }
  close(fd);
  return true;
}

// Its first line, without the newline.
bool read_line(const std::string& path, std::string* out) {
  if (!read_file(path, out)) return false;
  size_t eol = out->find('\n');
  if (eol != std::string::npos) out->resize(eol);
  return true;
}

double read_number(const std::string& path) {
  std::string s;
  if (!read_line(path, &s) || s.empty()) return 0;
  return std::strtod(s.c_str(), nullptr);
}

// Decimal digits at p (after blanks), as strtol would read them; p is left after them.  Not
// atoi/strtol/strtoull: every process under a policy reads these files at start-up, and
// libc's number parsers sit in pages of libc.so that a C program does not otherwise touch
// (issue 7: each new 64 KiB window of libc's text is up to 64 KiB more resident).
bool parse_uint(const char*& p, uint64_t* v) {
  while (*p == ' ' || *p == '\t') ++p;
  if (*p < '0' || *p > '9') return false;
  uint64_t x = 0;
  while (*p >= '0' && *p <= '9') x = x * 10 + static_cast<uint64_t>(*p++ - '0');
  *v = x;
  return true;
}

int leading_int(const char* p) {
  uint64_t v = 0;
  return parse_uint(p, &v) && v <= 0x7fffffff ? static_cast<int>(v) : 0;
}

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> out;
  for (size_t pos = 0; pos <= s.size();) {
    size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    std::string part = s.substr(pos, comma - pos);
    pos = comma + 1;
    if (part.empty()) continue;
    auto dash = part.find('-');
    int a = leading_int(part.c_str());
    int b = dash == std::string::npos ? a : leading_int(part.c_str() + dash + 1);
    for (int i = a; i <= b && i >= 0; ++i) out.push_back(i);
  }
  return out;
}

uint64_t meminfo_kb(const std::string& path, const char* key) {
  std::string text;
  if (!read_file(path, &text)) return 0;
  size_t at = text.find(key);
  if (at == std::string::npos) return 0;
  const char* p = text.c_str() + at + std::strlen(key);
  uint64_t v = 0;
  if (!parse_uint(p, &v)) v = 0;
  return v;
}

}  // namespace

Machine load_sysfs(const std::string& root) {
  Machine m;
  m.provider = "sysfs";
  std::string mem, cpu;
  read_line(root + "/has_memory", &mem);
  read_line(root + "/has_cpu", &cpu);
  std::vector<int> mem_nodes = parse_list(mem), cpu_nodes = parse_list(cpu);

  // Initiators: the nodes holding the CPUs this process may run on (its affinity at start).
  cpu_set_t set;
  CPU_ZERO(&set);
  // The system call itself (sched_getaffinity would be one more page of libc at start-up):
  // it returns the size of the kernel's mask it copied, the rest of `set` stays zero.
  bool have_affinity = syscall(SYS_sched_getaffinity, 0, sizeof(set), &set) > 0;
  for (int n : cpu_nodes) {
    std::string list;
    read_line(root + "/node" + std::to_string(n) + "/cpulist", &list);
    bool ours = !have_affinity;
    for (int c : parse_list(list))
      if (c < CPU_SETSIZE && CPU_ISSET(c, &set)) ours = true;
    if (ours) m.initiators.push_back(n);
  }
  if (m.initiators.empty()) m.initiators = cpu_nodes;

  for (int id : mem_nodes) {
    Node n;
    n.id = id;
    std::string dir = root + "/node" + std::to_string(id);
    read_line(dir + "/cpulist", &n.cpus);
    n.cpu_ids = parse_list(n.cpus);
    n.has_cpus = !n.cpu_ids.empty();
    n.capacity = meminfo_kb(dir + "/meminfo", "MemTotal:") * 1024;
    n.free = meminfo_kb(dir + "/meminfo", "MemFree:") * 1024;
    std::string dist;
    read_line(dir + "/distance", &dist);
    std::vector<int> d;
    uint64_t x;
    for (const char* p = dist.c_str(); parse_uint(p, &x);) d.push_back(static_cast<int>(x));
    int best = 0;
    for (int ini : m.initiators)
      if (ini < static_cast<int>(d.size()) && (best == 0 || d[ini] < best)) best = d[ini];
    n.distance = best;
    n.dist_row = d;
    // HMAT: access1 is the nearest CPU initiator, access0 the nearest initiator of any kind.
    for (const char* acc : {"/access1/initiators/", "/access0/initiators/"}) {
      std::string a = dir + acc;
      double rl = read_number(a + "read_latency");
      double rb = read_number(a + "read_bandwidth");
      if (rl <= 0 && rb <= 0) continue;
      n.read_lat = rl;
      n.write_lat = read_number(a + "write_latency");
      n.read_bw = rb;
      n.write_bw = read_number(a + "write_bandwidth");
      n.source = "sysfs-hmat";
      if (DIR* dh = opendir(a.c_str())) {
        while (dirent* e = readdir(dh))
          if (std::strncmp(e->d_name, "node", 4) == 0) n.hmat_initiators.push_back(leading_int(e->d_name + 4));
        closedir(dh);
      }
      break;
    }
    if (n.source.empty()) n.source = "distance";
    m.nodes.push_back(n);
  }
  // Persistent memory onlined as RAM: a dax device bound to the kmem driver.  The bus's
  // directory lists them (a machine without it: one failed open, not one per possible name),
  // read with getdents64 into a stack buffer: no allocation, no more of libc at start-up.
  std::string dax = "/sys/bus/dax/devices";
  if (root == "/sys/devices/system/node") {
    int fd = open(dax.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    alignas(dirent64) char buf[2048];
    for (long got; fd >= 0 && (got = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0;) {
      for (long off = 0; off < got;) {
        const auto* e = reinterpret_cast<const dirent64*>(buf + off);
        off += e->d_reclen;
        if (std::strncmp(e->d_name, "dax", 3) != 0) continue;
        std::string name = std::string("/") + e->d_name;
        std::string dev = dax + name;
        std::string target;
        if (!read_line(dev + "/target_node", &target)) continue;
        char link[512];
        ssize_t l = readlink((dev + "/driver").c_str(), link, sizeof link - 1);
        if (l <= 0) continue;
        link[l] = 0;
        std::string drv(link);
        if (drv.substr(drv.find_last_of('/') + 1) != "kmem") continue;
        for (auto& n : m.nodes)
          if (n.id == leading_int(target.c_str())) {
            n.kind = "pmem";
            n.kind_source = "dax kmem (" + name.substr(1) + ")";
          }
      }
    }
    if (fd >= 0) close(fd);
  }
  classify(&m);
  return m;
}

}  // namespace tiermalloc::topo
