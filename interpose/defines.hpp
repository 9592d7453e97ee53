// SPDX-License-Identifier: MIT
// interpose/defines.hpp -- attributes shared by the preload library.
#pragma once

#define TM_LIKELY(x) __builtin_expect(!!(x), 1)
#define TM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TM_FAST_PATH inline __attribute__((always_inline))
#define TM_SLOW_PATH __attribute__((noinline, cold))
#define TM_EXPORT extern "C" __attribute__((visibility("default")))
#define TM_RETURN_ADDRESS() reinterpret_cast<uintptr_t>(__builtin_return_address(0))
