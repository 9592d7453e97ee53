// SPDX-License-Identifier: MIT
// interpose/unwind.hpp -- a fast, exact stack walk for stack rules (x86-64).
//
// Per return address, the frame's unwind rule is derived once from the DWARF CFI that the
// program's own unwinder uses (.eh_frame, found with libgcc's _Unwind_Find_FDE): where the
// caller's CFA is (rsp or rbp plus an offset), where the return address and the caller's rbp
// were saved.  A walk applies these rules: two or three loads a frame, no lock, no system
// call, no allocation.  What a rule cannot express (CFA expressions, a CFA in another
// register, signal frames, code without an FDE) makes the walk answer kSlow, and the caller
// falls back to _Unwind_Backtrace for that allocation.
//
// Rules live in a process-wide table (mmapped, lock-free insert); forget() clears it after
// dlclose, when the addresses may come back with other code.
#pragma once
#include <atomic>
#include <cstdint>

namespace tiermalloc::unwind {

enum RuleKind : uint8_t { kUnknown = 0, kOk = 1, kEnd = 2, kSlow = 3 };

/** How to go from a frame to its caller's.  Offsets are from the frame's CFA. */
struct Rule {
  uint8_t kind;       // RuleKind; kEnd: the outermost frame (return address undefined)
  uint8_t cfa_rbp;    // 1: CFA = rbp + cfa_off, 0: CFA = rsp + cfa_off
  uint8_t rbp_saved;  // 1: the caller's rbp is at CFA + rbp_off; 0: rbp is unchanged
  uint8_t pad;
  int32_t cfa_off;
  int32_t rbp_off;
  int32_t ra_off;     // the return address is at CFA + ra_off (-8 on x86-64)
};
static_assert(sizeof(Rule) == 16);

/** Registers at a point of a function: pc is that point (not a return address). */
struct Regs {
  uintptr_t pc, rsp, rbp;
};

/** This point's pc, rsp and rbp, read in one instruction sequence (so they agree). */
#define TM_CAPTURE_REGS(r)                                                              \
  asm volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2"                     \
               : "=&r"((r).pc), "=&r"((r).rsp), "=&r"((r).rbp))

/** The rule of the frame whose return address is ra (the rule at ra - 1), from the CFI,
 *  uncached.  For a frame's current pc (not a return address), pass pc + 1. */
Rule rule_from_cfi(uintptr_t ra);
/** The same, through the process-wide table. */
Rule rule_for(uintptr_t ra);

/** One frame up: false when the rule is not kOk or the caller's frame is not above this
 *  one.  *pc becomes the caller's return address (0 at the outermost frame). */
inline bool step(const Rule& r, uintptr_t* rsp, uintptr_t* rbp, uintptr_t* pc) {
  uintptr_t cfa = (r.cfa_rbp ? *rbp : *rsp) + static_cast<intptr_t>(r.cfa_off);
  if (cfa <= *rsp || (cfa & 7)) return false;
  if (r.rbp_saved) *rbp = *reinterpret_cast<const uintptr_t*>(cfa + static_cast<intptr_t>(r.rbp_off));
  *pc = *reinterpret_cast<const uintptr_t*>(cfa + static_cast<intptr_t>(r.ra_off));
  *rsp = cfa;
  return true;
}

/** step() without the checks, for a rule known to be kOk and to belong to this frame. */
inline void step_exact(const Rule& r, uintptr_t* rsp, uintptr_t* rbp, uintptr_t* pc) {
  uintptr_t cfa = (r.cfa_rbp ? *rbp : *rsp) + static_cast<intptr_t>(r.cfa_off);
  if (r.rbp_saved) *rbp = *reinterpret_cast<const uintptr_t*>(cfa + static_cast<intptr_t>(r.rbp_off));
  *pc = *reinterpret_cast<const uintptr_t*>(cfa + static_cast<intptr_t>(r.ra_off));
  *rsp = cfa;
}

enum WalkStatus { kWalkOk = 0, kWalkSlow = 1, kWalkNoSite = 2, kWalkTooDeep = 3 };

/** Walks from `from` outwards.  Frames before the one whose return address is `site` are
 *  the allocator's own (at most kMaxOwnFrames); from the site on, `want` frames are
 *  collected (fewer if the stack ends).  On kWalkOk: pcs[0] = from.pc + 1, pcs[1..*n) the
 *  return addresses met, ending either with the last wanted frame or with 0 (the stack's
 *  end); rules[i] took pcs[i] to pcs[i + 1]; *first is the site's index. */
inline constexpr int kMaxOwnFrames = 6;
WalkStatus walk(const Regs& from, uintptr_t site, int want, uintptr_t* pcs, Rule* rules, int cap,
                int* n, int* first);

/** Re-walks a recorded walk: true if every return address met equals pcs[1..n).  No bounds
 *  checks: rules[i] was derived for pcs[i], and each pcs[i] is compared with the return
 *  address actually found before rules[i] is applied, so every load is the one the walk
 *  made (from must be the registers of the frame whose return address is pcs[0]). */
inline bool rewalk(const Regs& from, const uintptr_t* pcs, const Rule* rules, int n) {
  uintptr_t rsp = from.rsp, rbp = from.rbp;
  const Rule* r = rules;
  for (const uintptr_t *pc = pcs + 1, *end = pcs + n; pc < end; ++pc, ++r) {
    uintptr_t next = 0;
    if (__builtin_expect(r->kind == kOk, 1)) {
      uintptr_t cfa = (r->cfa_rbp ? rbp : rsp) + static_cast<intptr_t>(r->cfa_off);
      if (r->rbp_saved) rbp = *reinterpret_cast<const uintptr_t*>(cfa + static_cast<intptr_t>(r->rbp_off));
      next = *reinterpret_cast<const uintptr_t*>(cfa + static_cast<intptr_t>(r->ra_off));
      rsp = cfa;
    }
    if (next != *pc) return false;
  }
  return true;
}

/** After dlclose: every rule forgotten, every thread's recorded walks invalid. */
void forget();
/** Bumped by forget(): recorded walks carry the generation they were made in. */
inline std::atomic<uint32_t> g_generation{1};
inline uint32_t generation() { return g_generation.load(std::memory_order_acquire); }

}  // namespace tiermalloc::unwind
