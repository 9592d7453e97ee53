// SPDX-License-Identifier: MIT
// interpose/cxx_throw.cpp -- libstdc++'s throw helpers (std::__throw_*), defined here so that
// the statically linked libstdc++ (CMakeLists.txt: -static-libstdc++) brings no exception
// allocator of its own: its emergency pool is a 71 KiB malloc in a static constructor, made
// after our constructor has published the policy, so every process would have counted it as
// one of the program's allocations and peaked 71 KiB higher.
//
// libstdc++'s exception personality still refers to the allocator (for dynamic exception
// specifications, which our code has none of): __cxa_allocate_exception and its three
// companions are defined below too, as traps that say so and abort; nothing of ours reaches
// them (an exception caught and ended in our frames is freed by the runtime that threw it).
//
// Each helper throws through the program's libstdc++.so (looked up by name: ours are local),
// so its catch clauses see their own types.  A program without libstdc++ (a C program) never
// throws into our code; should our own code fail there (out of memory while reading the
// policy), the message is one line and the process aborts.
#include <dlfcn.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <stdexcept>

#include "interpose/diag.hpp"

namespace {

using ThrowFn = void (*)();
using ThrowMsgFn = void (*)(const char*);

[[noreturn]] void no_runtime(const char* what, const char* msg) {
  tiermalloc::diag::Line l;
  l.s("cannot throw ").s(what).s(msg ? " (" : "").s(msg ? msg : "").s(msg ? ")" : "")
      .s(": the program has no C++ runtime (libstdc++.so) to throw it with; aborting");
  tiermalloc::diag::emit(tiermalloc::diag::kError, l);
  std::abort();
}

[[noreturn]] void throw_via(const char* symbol, const char* what) {
  if (auto f = reinterpret_cast<ThrowFn>(dlsym(RTLD_DEFAULT, symbol))) f();
  no_runtime(what, nullptr);
}

[[noreturn]] void throw_msg_via(const char* symbol, const char* what, const char* msg) {
  if (auto f = reinterpret_cast<ThrowMsgFn>(dlsym(RTLD_DEFAULT, symbol))) f(msg);
  no_runtime(what, msg);
}

}  // namespace

namespace __cxxabiv1 {
extern "C" {

void* __cxa_allocate_exception(size_t) noexcept { no_runtime("an exception", "__cxa_allocate_exception"); }
void __cxa_free_exception(void*) noexcept { no_runtime("an exception", "__cxa_free_exception"); }
void* __cxa_allocate_dependent_exception() noexcept { no_runtime("an exception", "__cxa_allocate_dependent_exception"); }
void __cxa_free_dependent_exception(void*) noexcept { no_runtime("an exception", "__cxa_free_dependent_exception"); }

}  // extern "C"
}  // namespace __cxxabiv1

namespace std {

void __throw_bad_alloc() { throw_via("_ZSt17__throw_bad_allocv", "std::bad_alloc"); }
void __throw_bad_array_new_length() { throw_via("_ZSt28__throw_bad_array_new_lengthv", "std::bad_array_new_length"); }
void __throw_length_error(const char* s) { throw_msg_via("_ZSt20__throw_length_errorPKc", "std::length_error", s); }
void __throw_logic_error(const char* s) { throw_msg_via("_ZSt19__throw_logic_errorPKc", "std::logic_error", s); }
void __throw_out_of_range(const char* s) { throw_msg_via("_ZSt20__throw_out_of_rangePKc", "std::out_of_range", s); }
void __throw_invalid_argument(const char* s) {
  throw_msg_via("_ZSt24__throw_invalid_argumentPKc", "std::invalid_argument", s);
}
void __throw_out_of_range_fmt(const char* fmt, ...) {
  // libstdc++'s own formats use %zu and %s only: vsnprintf gives the same text.
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  throw_msg_via("_ZSt20__throw_out_of_rangePKc", "std::out_of_range", buf);
}

}  // namespace std
