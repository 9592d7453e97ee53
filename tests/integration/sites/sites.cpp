// SPDX-License-Identifier: MIT
// tests/integration/sites -- call-site rules: functions in the main binary (one exported,
// one static, one C++ method matched by its demangled name), in a linked library and in a
// dlopen'ed one each go to their own tier (tests/integration/policies/sites.yaml); after
// dlclose, a different library loaded at the same address must not inherit the old
// library's decision.
#include <dlfcn.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

extern "C" void* lib_alloc(size_t n);    // libsite_linked.so
extern "C" void* lib_new(size_t n);
extern "C" void* lib_wrapped(size_t n);

namespace {
int (*tier_of)(const void*);
const char* (*tier_name)(int);
int failures = 0;

std::string tier(const void* p) {
  const char* n = tier_name(tier_of(p));
  return n ? n : "?";
}

// TM_SITES_NODES="tier=node,...": also check, with move_pages, that the block's page is on
// its tier's node (the hmat-vm guest runs this with one tier per node).
int node_of_tier(const std::string& t) {
  const char* env = std::getenv("TM_SITES_NODES");
  if (!env) return -1;
  std::string s = std::string(",") + env + ",";
  size_t at = s.find("," + t + "=");
  return at == std::string::npos ? -1 : std::atoi(s.c_str() + at + t.size() + 2);
}

void expect(const char* what, const void* p, const char* want) {
  std::string got = tier(p);
  std::string node;
  int want_node = node_of_tier(want);
  if (want_node >= 0) {
    static_cast<volatile const char*>(p)[0];  // resident
    void* page[1] = {const_cast<void*>(p)};
    int status = -1;
    syscall(SYS_move_pages, 0, 1, page, nullptr, &status, 0);
    node = " node " + std::to_string(status);
    if (status != want_node) {
      node += " (expected " + std::to_string(want_node) + ")";
      ++failures;
    }
  }
  std::printf("%-40s -> %-8s%s %s\n", what, got.c_str(), node.c_str(),
              got == want ? "" : ("  <-- expected " + std::string(want)).c_str());
  if (got != want) ++failures;
}

__attribute__((noinline)) void* static_alloc(size_t n) {  // not exported: found in .symtab
  void* p = std::malloc(n);
  asm volatile("" ::: "memory");
  return p;
}
}  // namespace

extern "C" __attribute__((noinline, visibility("default"))) void* main_alloc(size_t n) {
  void* p = std::malloc(n);
  asm volatile("" ::: "memory");
  return p;
}

// A wrapper, as legacy code has them; the policy lists it under `wrappers:` so that the
// call site is its caller.
extern "C" __attribute__((noinline, visibility("default"))) void* xmalloc(size_t n) {
  void* p = std::malloc(n);
  if (!p) std::abort();
  asm volatile("" ::: "memory");
  return p;
}
extern "C" __attribute__((noinline, visibility("default"))) void* alpha_user(size_t n) {
  void* p = xmalloc(n);
  asm volatile("" ::: "memory");
  return p;
}
extern "C" __attribute__((noinline, visibility("default"))) void* beta_user(size_t n) {
  void* p = xmalloc(n);
  asm volatile("" ::: "memory");
  return p;
}
// A stack: deep_caller -> mid_layer -> leaf_alloc -> malloc.
extern "C" __attribute__((noinline, visibility("default"))) void* leaf_alloc(size_t n) {
  void* p = std::malloc(n);
  asm volatile("" ::: "memory");
  return p;
}
extern "C" __attribute__((noinline, visibility("default"))) void* mid_layer(size_t n) {
  void* p = leaf_alloc(n);
  asm volatile("" ::: "memory");
  return p;
}
extern "C" __attribute__((noinline, visibility("default"))) void* deep_caller(size_t n) {
  void* p = mid_layer(n);
  asm volatile("" ::: "memory");
  return p;
}

namespace app {
struct Solver {
  __attribute__((noinline)) static char* make(size_t n) {
    char* p = new char[n];
    asm volatile("" ::: "memory");
    return p;
  }
};
}  // namespace app

int main(int argc, char** argv) {
  tier_of = reinterpret_cast<int (*)(const void*)>(dlsym(RTLD_DEFAULT, "tiermalloc_tier_of"));
  tier_name = reinterpret_cast<const char* (*)(int)>(dlsym(RTLD_DEFAULT, "tiermalloc_tier_name"));
  if (!tier_of || !tier_name || argc < 2) {
    std::puts("sites: run under LD_PRELOAD=libtiermalloc.so with the directory of the libraries as argument");
    return 1;
  }
  std::string dir = argv[1];
  bool shallow = argc > 2 && std::strcmp(argv[2], "--shallow") == 0;  // stack_depth 2
  expect("alpha_user -> xmalloc (wrapper skipped)", alpha_user(100), "alpha");
  expect("beta_user -> xmalloc (wrapper skipped)", beta_user(100), "beta");
  expect("xmalloc from main() (wrapper skipped)", xmalloc(100), "near");
  expect("deep_caller -> mid_layer -> leaf_alloc", deep_caller(100), shallow ? "near" : "deep");
  expect("leaf_alloc from main() (no deep_caller)", leaf_alloc(100), "near");
  expect("deep_caller again (per allocation)", deep_caller(100), shallow ? "near" : "deep");
  expect("main_alloc (exported, main binary)", main_alloc(100), "mainfn");
  expect("static_alloc (static, main binary)", static_alloc(100), "staticfn");
  expect("app::Solver::make (new[], demangled)", app::Solver::make(100), "solver");
  expect("lib_alloc in libsite_linked.so", lib_alloc(100), "linked");
  expect("lib_new in libsite_linked.so", lib_new(100), "linked");
  expect("lib_wrapped -> lib_xmalloc in libsite_linked.so", lib_wrapped(100), "linked");
  expect("malloc from main() itself", std::malloc(100), "near");

  using fn = void* (*)(size_t);
  void* h = dlopen((dir + "/libsite_dl.so").c_str(), RTLD_NOW);
  if (!h) { std::printf("dlopen: %s\n", dlerror()); return 1; }
  auto f = reinterpret_cast<fn>(dlsym(h, "lib_alloc"));
  expect("lib_alloc in libsite_dl.so, 8 KiB", f(8192), "dl");
  expect("lib_new in libsite_dl.so, 8 KiB", reinterpret_cast<fn>(dlsym(h, "lib_new"))(8192), "dl");
  expect("lib_wrapped in libsite_dl.so, 8 KiB", reinterpret_cast<fn>(dlsym(h, "lib_wrapped"))(8192), "dl");
  expect("lib_alloc in libsite_dl.so, 100 B (size rule)", f(100), "near");
  void* old_addr = reinterpret_cast<void*>(f);
  dlclose(h);
  h = dlopen((dir + "/libsite_other.so").c_str(), RTLD_NOW);
  if (!h) { std::printf("dlopen: %s\n", dlerror()); return 1; }
  f = reinterpret_cast<fn>(dlsym(h, "lib_alloc"));
  std::printf("libsite_other.so's lib_alloc at %s address as libsite_dl.so's had\n",
              reinterpret_cast<void*>(f) == old_addr ? "the same" : "another");
  expect("lib_alloc in libsite_other.so, 8 KiB", f(8192), "near");
  dlclose(h);
  std::printf("%s\n", failures ? "SITES-FAILED" : "SITES-OK");
  return failures ? 1 : 0;
}
