# SPDX-License-Identifier: MIT
# tests/integration/transient/check_stats.py MODE STATS.json DIR [--pmem]
# (--pmem: DIR is an fsdax mount, so is_pmem must be true, whatever the mode)
# The statistics of a transient-tier run, checked exactly against what the program did:
#   stats    (size: 96MiB) 32 MiB + 40 MiB on scratch, 32 MiB over budget -> near, free 32,
#            48 MiB calloc on scratch (88 MiB), a 64 KiB-aligned 33 MiB block -> near
#            (alignment fallback), the 48 MiB grown in its file to 56 (peak 96 MiB), then to
#            60 MiB: over budget, moved to near (budget fallback); all freed
#   nospace  (100 MiB tmpfs) 64 MiB on scratch; 64 MiB malloc + 64 MiB calloc -> near (no space)
#   vm       (guest, /mnt/pmem0, no size) two blocks: 64 MiB + 100 MiB (peak 164 MiB), the first
#            resized to 150 MiB and 40 MiB, freed;
#            is_pmem must be true
#   threads  (size: 96MiB) 160 blocks of 32 MiB: scratch's allocations + budget fallbacks = 160,
#            peak <= 96 MiB
# Any other mode: only the shape of the transient tier's record.
import json
import sys

MiB = 1 << 20
mode, path, tdir = sys.argv[1], sys.argv[2], sys.argv[3]
with open(path) as fh:
    st = json.load(fh)
tiers = {t["name"]: t for t in st["tiers"]}
bad = []


def expect(tier, key, want):
    got = tiers[tier]
    for k in key.split("."):
        got = got.get(k) if isinstance(got, dict) else None
    if got != want:
        bad.append(f"tier {tier}: {key} = {got!r}, expected {want!r}")


if "scratch" not in tiers or "near" not in tiers:
    print(f"FAIL: tiers scratch and near expected in {path}, found {sorted(tiers)}")
    sys.exit(1)
s = tiers["scratch"]
print("  stats: scratch " + ", ".join(f"{k}={s.get(k)!r}" for k in (
    "kind", "available", "path", "is_pmem", "file_bytes_live", "file_bytes_peak", "size", "fallbacks",
    "allocations", "frees", "bytes_allocated", "fallbacks_out")))
print(f"  stats: near allocations={tiers['near'].get('allocations')} frees={tiers['near'].get('frees')}")
for k in ("kind", "path", "is_pmem", "file_bytes_live", "file_bytes_peak", "size", "fallbacks", "allocations",
          "frees", "fallbacks_out"):
    if k not in s:
        bad.append(f"tier scratch: no {k!r} in the record")
expect("scratch", "kind", "transient")
expect("scratch", "available", True)
expect("scratch", "path", tdir)
expect("scratch", "file_bytes_live", 0)
if "--pmem" in sys.argv[4:]:
    expect("scratch", "is_pmem", True)
if mode == "stats":
    expect("scratch", "is_pmem", False)
    expect("scratch", "size", 96 * MiB)
    # A realloc counts as the old block's free and a new allocation (also when the block's
    # file is resized in place): a, b, d and d at 56 MiB; a, b, d and d at 56 MiB (moved away).
    expect("scratch", "allocations", 4)
    expect("scratch", "frees", 4)
    expect("scratch", "bytes_allocated", (32 + 40 + 48 + 56) * MiB)
    expect("scratch", "file_bytes_peak", 96 * MiB)
    expect("scratch", "fallbacks.budget", 2)
    expect("scratch", "fallbacks.no_space", 0)
    expect("scratch", "fallbacks.alignment", 1)
    expect("scratch", "fallbacks.table_full", 0)
    expect("scratch", "fallbacks_out", 3)
elif mode == "nospace":
    expect("scratch", "is_pmem", False)
    expect("scratch", "size", None)
    expect("scratch", "allocations", 2)  # the first block, and the one after the space came back
    expect("scratch", "frees", 2)
    expect("scratch", "file_bytes_peak", 64 * MiB)
    expect("scratch", "fallbacks.budget", 0)
    expect("scratch", "fallbacks.no_space", 2)
    expect("scratch", "fallbacks_out", 2)
elif mode == "threads":
    # 160 blocks of 32 MiB from 4 threads, at most 3 at once within the budget of 96 MiB.
    expect("scratch", "size", 96 * MiB)
    n = s.get("allocations", -1)
    expect("scratch", "frees", n)
    expect("scratch", "bytes_allocated", n * 32 * MiB)
    expect("scratch", "fallbacks.no_space", 0)
    expect("scratch", "fallbacks_out", 160 - n)
    expect("scratch", "fallbacks.budget", 160 - n)
    if not 0 < n <= 160:
        bad.append(f"tier scratch: {n} allocations, expected 1..160")
    if s.get("file_bytes_peak", 1 << 62) > 96 * MiB:
        bad.append(f"tier scratch: file_bytes_peak {s.get('file_bytes_peak')} over the size 96 MiB")
elif mode == "vm":
    expect("scratch", "is_pmem", True)
    # 64 MiB + 100 MiB; the 64 MiB block resized to 150 then 40 MiB (a realloc: a free and an
    # allocation each).
    expect("scratch", "allocations", 4)
    expect("scratch", "frees", 4)
    expect("scratch", "file_bytes_peak", 164 * MiB)
    expect("scratch", "fallbacks.budget", 0)
    expect("scratch", "fallbacks.no_space", 0)
    expect("scratch", "fallbacks_out", 0)
for b in bad:
    print("  MISMATCH: " + b)
print("  stats:", "FAILED" if bad else "OK")
sys.exit(1 if bad else 0)
