# SPDX-License-Identifier: MIT
# tests/vm/bytearrays.py LARGE_TIER LARGE_NODE SMALL_TIER SMALL_NODE
# An ordinary Python workload (several 8 MiB bytearrays, some small ones) that then asks the
# kernel, through ctypes and move_pages(2), which node holds each page of each buffer, and
# tiermalloc_tier_of() which tier it came from.  Exit 0 = all as expected, 1 = mismatch.
import ctypes
import hashlib
import platform
import sys

large_tier, large_node, small_tier, small_node = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
PAGE = 4096
SYS_move_pages = {"x86_64": 279, "aarch64": 239}.get(platform.machine())

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
tier_of = getattr(libc, "tiermalloc_tier_of", None)
tier_name = getattr(libc, "tiermalloc_tier_name", None)
if tier_of and tier_name:
    tier_of.argtypes, tier_of.restype = [ctypes.c_void_p], ctypes.c_int
    tier_name.argtypes, tier_name.restype = [ctypes.c_int], ctypes.c_char_p


def where(buf):
    """{node: pages} for the pages under buf, and the tier tiermalloc says it is in."""
    addr = ctypes.addressof((ctypes.c_char * len(buf)).from_buffer(buf))
    first, last = addr & ~(PAGE - 1), (addr + len(buf) - 1) & ~(PAGE - 1)
    n = (last - first) // PAGE + 1
    pages = (ctypes.c_void_p * n)(*range(first, last + 1, PAGE))
    status = (ctypes.c_int * n)()
    if libc.syscall(ctypes.c_long(SYS_move_pages), ctypes.c_long(0), ctypes.c_ulong(n), pages,
                    ctypes.c_void_p(None), status, ctypes.c_int(0)) != 0:
        raise OSError(ctypes.get_errno(), "move_pages")
    nodes = {}
    for s in status:
        nodes[s] = nodes.get(s, 0) + 1
    if tier_of and tier_name:
        name = tier_name(tier_of(addr))
        tier = name.decode() if name is not None else "(not tiermalloc's)"
    else:
        tier = "(not preloaded)"
    return nodes, tier


pattern = bytes(range(256)) * 16
big = [bytearray(pattern[k:] + pattern[:k]) * ((8 << 20) // len(pattern)) for k in range(6)]
# (above pymalloc's 512 bytes, so malloc'ed: pymalloc's own arenas are plain mmaps)
small = [bytearray(pattern[:100] * (10 + k)) for k in range(200)]    # 1 KB .. 21 KB
mid = [bytearray(b"m" * (256 << 10)) for _ in range(3)]             # 256 KiB: below the rule
digest = hashlib.sha256(b"".join(hashlib.sha256(b).digest() for b in big + small + mid)).hexdigest()
print("digest", digest[:24])
if SYS_move_pages is None:
    print("no move_pages number for", platform.machine()); sys.exit(77)

bad = 0
for label, bufs, node, tier in (("8MiB bytearray", big, large_node, large_tier),
                                ("256KiB bytearray", mid, small_node, small_tier),
                                ("small bytearray", small, small_node, small_tier)):
    tot, tiers = {}, set()
    for b in bufs:
        nodes, t = where(b)
        tiers.add(t)
        for k, v in nodes.items():
            tot[k] = tot.get(k, 0) + v
    ok = set(tot) == {node} and tiers == {tier}
    print(f"{label:18s} x{len(bufs):<4d} pages {sum(tot.values()):6d}  nodes "
          + " ".join(f"N{k}:{v}" if k >= 0 else f"err{k}:{v}" for k, v in sorted(tot.items()))
          + f"  tier {','.join(sorted(tiers))}" + ("" if ok else f"   <-- MISMATCH (want node {node}, tier {tier})"))
    bad += not ok
print("bytearrays:", "FAILED" if bad else "OK")
sys.exit(1 if bad else 0)
