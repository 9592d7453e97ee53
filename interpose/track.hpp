// SPDX-License-Identifier: MIT
// interpose/track.hpp -- per-block accounting for statistics and profiles (track.cpp), read
// by the JSON writers (stats.cpp).  Only a process with TIERMALLOC_STATS or
// TIERMALLOC_PROFILE set pays for any of this: then every allocation and free takes the
// slow path (g_track), which records each block (address -> size, site, tier, time) in a
// sharded table, so a free knows what it frees.  Without them the hot path is unchanged.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "interpose/runtime.hpp"

namespace tiermalloc::rt {

inline constexpr int kHistBuckets = 65;        // [0,0], then [2^k, 2^(k+1)-1] for k = 0..63
inline constexpr uint32_t kSiteStats = 16384;  // call sites counted (slot 0: "(other)")

/** One call site (a return address) as statistics and profiles see it. */
struct SiteStat {
  std::atomic<uintptr_t> ra;
  std::atomic<uint8_t> ready;    // named
  std::atomic<uint8_t> api;      // Api bit index of its first allocation
  std::atomic<int8_t> tier;      // tier of its latest allocation
  std::atomic<int8_t> rule;      // rule of its latest allocation, -1: none
  uint64_t offset;
  char module[128];              // base name ("" unknown)
  char function[256];            // symbol, mangled ("" unknown)
  std::atomic<uint64_t> allocs, frees, bytes, live, peak;
  std::atomic<uint64_t> size_min, size_max;           // profile only
  std::atomic<uint64_t> life_n, life_sum, life_max;  // profile only: freed blocks, in ticks()
  std::atomic<uint64_t> at_peak, epoch;               // profile only: live at the process peak
  std::atomic<uint64_t> hist[kHistBuckets];           // profile only
};

struct TrackTotals {
  std::atomic<uint64_t> live[kMaxTiers];
  std::atomic<uint64_t> peak[kMaxTiers];
  std::atomic<uint64_t> rule_matches[kMaxRules];
  std::atomic<uint64_t> rule_bytes[kMaxRules];
  std::atomic<uint64_t> proc_live, proc_peak, epoch;  // profile only
};

extern bool g_profile;
extern TrackTotals g_track_totals;
extern SiteStat* g_site_stats;                 // kSiteStats entries, or nullptr
extern std::atomic<uint32_t> g_nsites;         // entries of g_site_list in use
extern std::atomic<uint32_t>* g_site_list;     // indices of claimed entries, in claim order
extern uint64_t g_start_ns;
extern char g_stats_path[4096];    // TIERMALLOC_STATS as read at start-up ("" unset)
extern char g_profile_path[4096];  // TIERMALLOC_PROFILE

uint64_t now_ns();
/** A cheap clock for lifetimes (the TSC on x86-64), and its conversion, calibrated over the
 *  run so far against CLOCK_MONOTONIC. */
uint64_t ticks();
uint64_t ticks_to_ns(uint64_t t);
inline uint64_t elapsed_ms() { return (now_ns() - g_start_ns) / 1000000; }

// ---- the timeline (sampled by the statistics thread) ------------------------------------
inline constexpr int kTimelineMax = 1024;
struct Timeline {
  uint32_t interval_ms;
  int n;
  uint32_t t_ms[kTimelineMax];
  uint64_t live[kTimelineMax][kMaxTiers];
};
/** Copies the timeline (under its lock), adding a sample taken now. */
void timeline_copy(Timeline* out);

/** The dump lock: one writer of statistics files at a time (sampler thread, exit). */
void dump_lock();
void dump_unlock();

// stats.cpp
void write_stats(const char* reason);
void write_profile();

}  // namespace tiermalloc::rt
