// SPDX-License-Identifier: MIT
// interpose/unwind.cpp -- the CFI interpreter behind the fast stack walk (unwind.hpp).
//
// An FDE's instructions are run up to the return address, as the DWARF unwinder does (rows
// at locations below ra apply), tracking only what the walk needs on x86-64: the CFA rule,
// the return address column (16) and rbp (6).  Other registers' rules are irrelevant to
// finding frames and are ignored.
#include "interpose/unwind.hpp"

#include <sys/mman.h>

#include <atomic>
#include <cstring>

extern "C" void* tiermalloc_sys_mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off);
extern "C" int tiermalloc_sys_munmap(void* addr, size_t len);

// libgcc_s's FDE lookup (the one _Unwind_Backtrace uses; GCC_3.0).
struct dwarf_eh_bases {
  void* tbase;
  void* dbase;
  void* func;
};
extern "C" const void* _Unwind_Find_FDE(void* pc, struct dwarf_eh_bases* bases);

namespace tiermalloc::unwind {
namespace {

constexpr unsigned kRegRbp = 6, kRegRsp = 7, kRegRa = 16;

struct Reader {
  const uint8_t* p;
  const uint8_t* end;
  bool bad = false;
  uint8_t u8() {
    if (p >= end) { bad = true; return 0; }
    return *p++;
  }
  uint64_t fixed(int n) {
    if (end - p < n) { bad = true; p = end; return 0; }
    uint64_t v = 0;
    std::memcpy(&v, p, n);  // little-endian
    p += n;
    return v;
  }
  uint64_t uleb() {
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      uint8_t b = u8();
      if (bad) return 0;
      if (shift < 64) v |= uint64_t{b & 0x7fu} << shift;
      if (!(b & 0x80)) return v;
    }
  }
  int64_t sleb() {
    int64_t v = 0;
    int shift = 0;
    uint8_t b;
    do {
      b = u8();
      if (bad) return 0;
      if (shift < 64) v |= int64_t{b & 0x7f} << shift;
      shift += 7;
    } while (b & 0x80);
    if (shift < 64 && (b & 0x40)) v |= -(int64_t{1} << shift);
    return v;
  }
  // Skips a pointer of DW_EH_PE encoding enc (its value is not needed).
  void skip_encoded(uint8_t enc) {
    if (enc == 0xff) return;  // DW_EH_PE_omit
    switch (enc & 0x0f) {
      case 0x00: case 0x04: case 0x0c: fixed(8); break;
      case 0x02: case 0x0a: fixed(2); break;
      case 0x03: case 0x0b: fixed(4); break;
      case 0x01: uleb(); break;
      case 0x09: sleb(); break;
      default: bad = true;
    }
  }
};

enum How : uint8_t { kSame = 0, kOffset = 1, kUndefined = 2, kOther = 3 };
struct RegRule {
  How how;
  int64_t off;
};
struct State {
  uint64_t cfa_reg;
  int64_t cfa_off;
  bool cfa_expr;
  RegRule rbp, ra;
};

struct Cie {
  uint64_t code_align;
  int64_t data_align;
  uint8_t fde_enc;
  bool aug_z;
  bool signal;
  const uint8_t* insns;
  const uint8_t* end;
};

bool parse_cie(const uint8_t* cie, Cie* c) {
  uint32_t len;
  std::memcpy(&len, cie, 4);
  if (len == 0 || len == 0xffffffffu) return false;  // 64-bit DWARF: not in .eh_frame
  Reader r{cie + 4, cie + 4 + len};
  if (r.fixed(4) != 0) return false;  // CIE id
  uint8_t version = r.u8();
  if (version != 1 && version != 3 && version != 4) return false;
  const char* aug = reinterpret_cast<const char*>(r.p);
  size_t auglen = strnlen(aug, static_cast<size_t>(r.end - r.p));
  r.p += auglen + 1;
  if (version == 4) {
    if (r.u8() != 8) return false;  // address size
    r.u8();                        // segment selector size
  }
  c->code_align = r.uleb();
  c->data_align = r.sleb();
  uint64_t ra_reg = version == 1 ? r.u8() : r.uleb();
  if (ra_reg != kRegRa) return false;
  c->fde_enc = 0;
  c->signal = false;
  c->aug_z = auglen > 0 && aug[0] == 'z';
  if (auglen > 0) {
    if (!c->aug_z) return false;  // "eh" and other pre-'z' forms
    uint64_t n = r.uleb();
    const uint8_t* data_end = r.p + n;
    if (r.bad || data_end > r.end) return false;
    for (size_t i = 1; i < auglen; ++i) {
      switch (aug[i]) {
        case 'R': c->fde_enc = r.u8(); break;
        case 'L': r.u8(); break;
        case 'P': r.skip_encoded(r.u8()); break;
        case 'S': c->signal = true; break;
        default: i = auglen; break;  // unknown: the length says where the data ends
      }
    }
    r.p = data_end;
  }
  if (r.bad) return false;
  c->insns = r.p;
  c->end = r.end;
  return true;
}

void set_reg(State& s, uint64_t reg, How how, int64_t off) {
  if (reg == kRegRbp) s.rbp = RegRule{how, off};
  else if (reg == kRegRa) s.ra = RegRule{how, off};
}

// Runs instructions [p, end) while the location is below `until` (the CIE's: no bound).
// False on an instruction this interpreter does not know.
bool run(const Cie& c, const uint8_t* p, const uint8_t* end, uintptr_t loc, uintptr_t until, State& s,
         const State& initial) {
  constexpr int kStates = 8;
  State saved[kStates];
  int nsaved = 0;
  Reader r{p, end};
  while (r.p < r.end && loc < until) {
    uint8_t op = r.u8();
    uint8_t low = op & 0x3f;
    switch (op >> 6) {
      case 1: loc += low * c.code_align; continue;
      case 2: set_reg(s, low, kOffset, static_cast<int64_t>(r.uleb()) * c.data_align); continue;
      case 3:
        if (low == kRegRbp) s.rbp = initial.rbp;
        if (low == kRegRa) s.ra = initial.ra;
        continue;
      default: break;
    }
    switch (op) {
      case 0x00: break;                                  // nop
      case 0x02: loc += r.u8() * c.code_align; break;    // advance_loc1
      case 0x03: loc += r.fixed(2) * c.code_align; break;
      case 0x04: loc += r.fixed(4) * c.code_align; break;
      case 0x05: {                                       // offset_extended
        uint64_t reg = r.uleb();
        set_reg(s, reg, kOffset, static_cast<int64_t>(r.uleb()) * c.data_align);
        break;
      }
      case 0x06: {                                       // restore_extended
        uint64_t reg = r.uleb();
        if (reg == kRegRbp) s.rbp = initial.rbp;
        if (reg == kRegRa) s.ra = initial.ra;
        break;
      }
      case 0x07: set_reg(s, r.uleb(), kUndefined, 0); break;
      case 0x08: set_reg(s, r.uleb(), kSame, 0); break;
      case 0x09: {                                       // register
        uint64_t reg = r.uleb();
        r.uleb();
        set_reg(s, reg, kOther, 0);
        break;
      }
      case 0x0a:                                         // remember_state
        if (nsaved == kStates) return false;
        saved[nsaved++] = s;
        break;
      case 0x0b: {                                       // restore_state (the CFA too)
        if (nsaved == 0) return false;
        s = saved[--nsaved];
        break;
      }
      case 0x0c:                                         // def_cfa
        s.cfa_reg = r.uleb();
        s.cfa_off = static_cast<int64_t>(r.uleb());
        s.cfa_expr = false;
        break;
      case 0x0d: s.cfa_reg = r.uleb(); s.cfa_expr = false; break;
      case 0x0e: s.cfa_off = static_cast<int64_t>(r.uleb()); break;
      case 0x0f: {                                       // def_cfa_expression
        uint64_t n = r.uleb();
        r.p += n;
        s.cfa_expr = true;
        break;
      }
      case 0x10: case 0x16: {                            // expression, val_expression
        uint64_t reg = r.uleb();
        uint64_t n = r.uleb();
        r.p += n;
        set_reg(s, reg, kOther, 0);
        break;
      }
      case 0x11: {                                       // offset_extended_sf
        uint64_t reg = r.uleb();
        set_reg(s, reg, kOffset, r.sleb() * c.data_align);
        break;
      }
      case 0x12:                                         // def_cfa_sf
        s.cfa_reg = r.uleb();
        s.cfa_off = r.sleb() * c.data_align;
        s.cfa_expr = false;
        break;
      case 0x13: s.cfa_off = r.sleb() * c.data_align; break;
      case 0x14: {                                       // val_offset
        uint64_t reg = r.uleb();
        r.uleb();
        set_reg(s, reg, kOther, 0);
        break;
      }
      case 0x15: {                                       // val_offset_sf
        uint64_t reg = r.uleb();
        r.sleb();
        set_reg(s, reg, kOther, 0);
        break;
      }
      case 0x2e: r.uleb(); break;                        // GNU_args_size
      case 0x2f: {                                       // GNU_negative_offset_extended
        uint64_t reg = r.uleb();
        set_reg(s, reg, kOffset, -static_cast<int64_t>(r.uleb()) * c.data_align);
        break;
      }
      default: return false;  // set_loc, DWARF 5 and vendor extensions: not ours to guess
    }
    if (r.bad || r.p > r.end) return false;
  }
  return !r.bad;
}

bool fits32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }

// ---- the process-wide rule table ------------------------------------------------------
constexpr size_t kRules = size_t{1} << 14;
constexpr int kProbe = 32;
struct RuleEntry {
  std::atomic<uintptr_t> ra;
  std::atomic<uint8_t> ready;
  Rule rule;
};
std::atomic<RuleEntry*> g_rules{nullptr};

RuleEntry* table() {
  RuleEntry* t = g_rules.load(std::memory_order_acquire);
  if (t) return t;
  void* m = tiermalloc_sys_mmap(nullptr, kRules * sizeof(RuleEntry), PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  RuleEntry* expected = nullptr;
  if (!g_rules.compare_exchange_strong(expected, static_cast<RuleEntry*>(m), std::memory_order_acq_rel)) {
    tiermalloc_sys_munmap(m, kRules * sizeof(RuleEntry));  // another thread's table won
    return expected;
  }
  return static_cast<RuleEntry*>(m);
}

}  // namespace

Rule rule_from_cfi(uintptr_t ra) {
  Rule out{};
  out.kind = kSlow;
  if (ra < 2) return out;
  dwarf_eh_bases bases{};
  const uint8_t* fde = static_cast<const uint8_t*>(_Unwind_Find_FDE(reinterpret_cast<void*>(ra - 1), &bases));
  if (!fde) return out;
  uint32_t len;
  std::memcpy(&len, fde, 4);
  if (len == 0 || len == 0xffffffffu) return out;
  Reader r{fde + 4, fde + 4 + len};
  const uint8_t* id_at = r.p;
  uint32_t cie_delta = static_cast<uint32_t>(r.fixed(4));
  Cie c;
  if (cie_delta == 0 || !parse_cie(id_at - cie_delta, &c) || c.signal) return out;
  r.skip_encoded(c.fde_enc);         // initial location: bases.func holds it decoded
  r.skip_encoded(c.fde_enc & 0x0f);  // address range
  if (c.aug_z) r.p += r.uleb();
  if (r.bad || r.p > r.end) return out;

  State s{};
  s.ra = RegRule{kSame, 0};
  s.rbp = RegRule{kSame, 0};
  uintptr_t func = reinterpret_cast<uintptr_t>(bases.func);
  if (!run(c, c.insns, c.end, func, UINTPTR_MAX, s, s)) return out;
  State initial = s;
  if (!run(c, r.p, r.end, func, ra, s, initial)) return out;

  if (s.ra.how == kUndefined) {
    out.kind = kEnd;
    return out;
  }
  if (s.cfa_expr || (s.cfa_reg != kRegRsp && s.cfa_reg != kRegRbp)) return out;
  if (s.ra.how != kOffset || !fits32(s.cfa_off) || !fits32(s.ra.off) || !fits32(s.rbp.off)) return out;
  if (s.rbp.how == kOther) return out;
  out.cfa_rbp = s.cfa_reg == kRegRbp;
  out.cfa_off = static_cast<int32_t>(s.cfa_off);
  out.ra_off = static_cast<int32_t>(s.ra.off);
  // Undefined rbp in the caller: nothing there to follow; the walk keeps the value it has.
  out.rbp_saved = s.rbp.how == kOffset;
  out.rbp_off = out.rbp_saved ? static_cast<int32_t>(s.rbp.off) : 0;
  out.kind = kOk;
  return out;
}

Rule rule_for(uintptr_t ra) {
  RuleEntry* t = table();
  if (!t) return rule_from_cfi(ra);
  size_t h = (ra * 0x9E3779B97F4A7C15ull) >> (64 - 14);
  for (int i = 0; i < kProbe; ++i) {
    RuleEntry& e = t[(h + i) & (kRules - 1)];
    uintptr_t k = e.ra.load(std::memory_order_acquire);
    if (k == ra) {
      if (e.ready.load(std::memory_order_acquire)) return e.rule;
      return rule_from_cfi(ra);  // another thread is filling it
    }
    if (k == 0) {
      uintptr_t expected = 0;
      if (!e.ra.compare_exchange_strong(expected, ra, std::memory_order_acq_rel)) {
        if (expected == ra) return rule_from_cfi(ra);
        continue;
      }
      e.rule = rule_from_cfi(ra);
      e.ready.store(1, std::memory_order_release);
      return e.rule;
    }
  }
  return rule_from_cfi(ra);  // table crowded here
}

WalkStatus walk(const Regs& from, uintptr_t site, int want, uintptr_t* pcs, Rule* rules, int cap, int* n,
                int* first) {
  uintptr_t rsp = from.rsp, rbp = from.rbp;
  pcs[0] = from.pc + 1;  // a current pc, looked up as a return address one byte on
  int f = -1;
  for (int i = 0;; ++i) {
    uintptr_t cur = pcs[i];
    if (f < 0 && cur == site) f = i;
    if (f >= 0 && i - f + 1 == want) {
      *n = i + 1;
      *first = f;
      return kWalkOk;
    }
    if (f < 0 && i >= kMaxOwnFrames) return kWalkNoSite;
    if (i + 2 > cap) return kWalkTooDeep;
    Rule rl = rule_for(cur);
    rules[i] = rl;
    uintptr_t pc;
    if (rl.kind == kEnd) {
      pc = 0;
    } else if (rl.kind != kOk || !step(rl, &rsp, &rbp, &pc)) {
      return kWalkSlow;
    }
    pcs[i + 1] = pc;
    if (pc == 0) {
      if (f < 0) return kWalkNoSite;
      *n = i + 2;
      *first = f;
      return kWalkOk;
    }
  }
}

void forget() {
  g_generation.fetch_add(1, std::memory_order_acq_rel);
  RuleEntry* t = g_rules.load(std::memory_order_acquire);
  if (!t) return;
  for (size_t i = 0; i < kRules; ++i) {
    t[i].ready.store(0, std::memory_order_relaxed);
    t[i].ra.store(0, std::memory_order_release);
  }
}


}  // namespace tiermalloc::unwind
