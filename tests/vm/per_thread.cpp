// SPDX-License-Identifier: MIT
// tests/vm/per_thread.cpp -- `initiator: thread`: two threads pinned to CPU 0 and CPU 1
// allocate from the same tier; with tests/topology/fake_sysfs.py's machine (CPU 1 belongs
// to node 1), the thread on CPU 0 must get node 2 (the HBM local to node 0) and the thread
// on CPU 1 node 1.  Every page is checked with move_pages.
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

struct Job {
  int cpu;
  int want_node;
  int bad = 0, pages = 0;
  std::vector<char*> blocks;
};

int node_of(void* p) {
  int status = -1;
  void* pages[1] = {p};
  if (syscall(SYS_move_pages, 0, 1, pages, nullptr, &status, 0) != 0) return -1;
  return status;
}

void* worker(void* arg) {
  auto* j = static_cast<Job*>(arg);
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(j->cpu, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) return nullptr;
  sched_yield();
  for (size_t size : {size_t{8} << 20, size_t{3} << 20, size_t{64} << 10, size_t{4096}, size_t{200}}) {
    char* p = static_cast<char*>(std::malloc(size));
    std::memset(p, j->cpu + 1, size);
    j->blocks.push_back(p);
    for (size_t off = 0; off < size; off += 4096) {
      int n = node_of(p + off);
      ++j->pages;
      if (n != j->want_node) ++j->bad;
    }
  }
  return nullptr;
}

}  // namespace

int main() {
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
    std::puts("per_thread: needs 2 CPUs");
    return 77;
  }
  auto tier_of = reinterpret_cast<int (*)(const void*)>(dlsym(RTLD_DEFAULT, "tiermalloc_tier_of"));
  auto tier_name = reinterpret_cast<const char* (*)(int)>(dlsym(RTLD_DEFAULT, "tiermalloc_tier_name"));
  Job jobs[2] = {{0, 2}, {1, 1}};
  pthread_t th[2];
  for (int i = 0; i < 2; ++i) pthread_create(&th[i], nullptr, worker, &jobs[i]);
  for (auto& t : th) pthread_join(t, nullptr);
  int rc = 0;
  for (auto& j : jobs) {
    bool tier_ok = true;
    for (char* p : j.blocks) {
      const char* n = tier_of && tier_name ? tier_name(tier_of(p)) : nullptr;
      tier_ok = tier_ok && n && std::strcmp(n, "fast") == 0;
      if (p[0] != j.cpu + 1) rc = 1;
      std::free(p);
    }
    std::printf("per_thread: thread on CPU %d: %d/%d pages on node %d, tier fast: %s\n", j.cpu, j.pages - j.bad,
                j.pages, j.want_node, tier_ok ? "yes" : "NO");
    if (j.bad || !tier_ok || j.pages == 0) rc = 1;
  }
  return rc;
}
