// SPDX-License-Identifier: MIT
// policy/callsite.cpp -- dladdr1 for the module and its load bias; the exported symbol if
// dladdr has one; otherwise the ELF symbol table (.symtab, which dladdr does not read: it
// names static and hidden functions too) of the file on disk.
#include "policy/callsite.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tiermalloc::policy {
namespace {

void copy(char* dst, size_t n, const char* src) {
  size_t i = 0;
  for (; src && src[i] && i + 1 < n; ++i) dst[i] = src[i];
  dst[i] = 0;
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
      const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(base);
      bool ok = std::memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
                eh->e_shoff && eh->e_shentsize == sizeof(Elf64_Shdr) &&
                eh->e_shoff + static_cast<size_t>(eh->e_shnum) * sizeof(Elf64_Shdr) <= size;
      for (int i = 0; ok && i < eh->e_shnum && !found; ++i) {
        const auto* sh = reinterpret_cast<const Elf64_Shdr*>(base + eh->e_shoff) + i;
        if (sh->sh_type != SHT_SYMTAB || sh->sh_link >= eh->e_shnum) continue;
        const auto* strh = reinterpret_cast<const Elf64_Shdr*>(base + eh->e_shoff) + sh->sh_link;
        if (sh->sh_offset + sh->sh_size > size || strh->sh_offset + strh->sh_size > size) continue;
        const auto* sym = reinterpret_cast<const Elf64_Sym*>(base + sh->sh_offset);
        size_t count = sh->sh_size / sizeof(Elf64_Sym);
        for (size_t k = 0; k < count; ++k) {
          if (ELF64_ST_TYPE(sym[k].st_info) != STT_FUNC || sym[k].st_value == 0) continue;
          if (addr < sym[k].st_value || addr >= sym[k].st_value + (sym[k].st_size ? sym[k].st_size : 1)) continue;
          if (sym[k].st_name >= strh->sh_size) continue;
          copy(out, n, reinterpret_cast<const char*>(base + strh->sh_offset + sym[k].st_name));
          found = true;
          break;
        }
      }
      syscall(SYS_munmap, map, size);
    }
  }
  syscall(SYS_close, fd);
  return found;
}

}  // namespace

const char* base_name(const char* path) {
  const char* b = path;
  for (const char* p = path; *p; ++p)
    if (*p == '/') b = p + 1;
  return b;
}

bool resolve_site(uintptr_t ra, SiteName* out) {
  int saved = errno;
  out->module[0] = out->symbol[0] = 0;
  out->offset = 0;
  // ra is the instruction after the call: ra - 1 is still inside the calling function.
  uintptr_t pc = ra ? ra - 1 : 0;
  Dl_info info;
  struct link_map* lm = nullptr;
  if (!dladdr1(reinterpret_cast<void*>(pc), &info, reinterpret_cast<void**>(&lm), RTLD_DL_LINKMAP) || !lm) {
    errno = saved;
    return false;
  }
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
  errno = saved;
  return true;
}

}  // namespace tiermalloc::policy
