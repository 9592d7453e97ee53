// SPDX-License-Identifier: MIT
// Call chains for the stack-walk tests, compiled with and without frame pointers
// (chain_fp.cpp, chain_nofp.cpp): each level calls the next and then touches memory, so no
// call is a tail call and every level is a frame of its own.
#pragma once
#include <cstddef>

extern "C" {
using probe_fn = void (*)(void* arg);
// fp_*: -fno-omit-frame-pointer (CFA from rbp); nofp_*: -fomit-frame-pointer (CFA from rsp).
void fp_a(probe_fn f, void* arg);
void fp_b(probe_fn f, void* arg);
void nofp_a(probe_fn f, void* arg);
void nofp_b(probe_fn f, void* arg);
// A VLA of n bytes: its frame's CFA is rbp-based even without frame pointers.
void nofp_vla(probe_fn f, void* arg, size_t n);
// n levels of recursion, then f.
void nofp_recurse(probe_fn f, void* arg, int n);
// mixed (fp) -> nofp_b -> (fp) -> fp_b -> (fp) -> nofp_vla -> f: both kinds of frames.
void mixed(probe_fn f, void* arg);
}
