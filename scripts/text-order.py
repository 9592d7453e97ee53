#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""scripts/text-order.py -- writes interpose/text-hot.ld, the order of libtiermalloc.so's code,
and interpose/bss-big.ld, that of its .bss (issue 7: peak RSS).

The kernel maps a file-backed fault's neighbours in the page cache with it (fault-around, a
64 KiB window), so one function run in a window of our text makes the whole window resident.
The functions a process runs at start-up and on the allocation path are therefore kept
together at the start of .text (its first window is touched anyway: .init and .plt); those
that the --first runs ran (`true`: a program that only starts) come first and fit the text
segment's first 64 KiB, one window (the library's segments are 64 KiB-aligned,
-z max-page-size, so ld.so maps it at a 64 KiB boundary and the windows fall at fixed places
of the text; before, a random load address spread 81 KiB over two windows, 116 KiB resident
on average); the rest
of the code (errors, the YAML cache miss, statistics, profiles, the stack walker,
libstdc++'s demangler, libgcc's unwinder) follows and stays on disk.  (DT_FINI, which ld.so calls at exit, names
an empty function among them instead of .fini, the last bytes of the text: CMakeLists.txt.)

Input: the library and callgrind runs of programs under it made with
    valgrind --tool=callgrind --dump-instr=yes --compress-strings=no --compress-pos=no
(the common entry points, ENTRY below, are hot too, run or not).  The list as made for
interpose/text-hot.ld, on a RelWithDebInfo build (CI's):
    scripts/text-order.py --lib build/libtiermalloc.so --out interpose/text-hot.ld \
        --first true.out --first-of build-release/libtiermalloc.so:true-release.out \
        python.out ls.out sort.out
with the runs of /usr/bin/true, /usr/bin/python3 -c pass, ls DIR and sort under
bench/policies/suite-ten-rules.yaml, policy cache warm (true-release.out: true under a
Release build of the same tree, whose start-up functions then fit the window as well).  Functions are named by their
-ffunction-sections input sections, .text.NAME; an LTO clone suffix (.constprop.0, .isra.0,
.part.0, .lto_priv.0) is matched by a pattern, a cold function or the split cold part of one
is .text.unlikely.NAME (and see EXTRA below).  The list goes inside the one output section
.text (valgrind reads symbols in a section named .text only).  tests/integration/text_order.sh
checks the result against the built library.
"""
import argparse
import bisect
import collections
import re
import subprocess
import sys



def symbols(lib):
    out = subprocess.run(["nm", "-S", "-n", lib], capture_output=True, text=True, check=True).stdout
    syms = []
    for line in out.splitlines():
        p = line.split()
        if len(p) == 4 and p[2] in "tTwWiI":
            syms.append((int(p[0], 16), int(p[1], 16), p[3]))
    return syms


def base(name):
    # mi_getenv.constprop.0 -> mi_getenv; malloc.cold -> malloc (cold part)
    return name.split(".")[0]


def pattern(name):
    # GCC's -freorder-functions puts a cold function (our TM_SLOW_PATH) and the cold part of
    # any in .text.unlikely.NAME, one run only from constructors in .text.startup.NAME, a
    # destructor in .text.exit.NAME.
    b = base(name)
    return " ".join(".text%s.%s .text%s.%s.*" % (k, b, k, b) for k in ("", ".unlikely", ".startup", ".exit", ".hot"))


# Code run at start-up or exit that has no function section of its own: crtbeginS.o's
# frame_dummy and __do_global_dtors_aux, libc_nonshared.a's atexit and pthread_atfork,
# libgcc's __popcountdi2 (NodeMask::count; in libgcc 12 it lives in _popcountsi2.o).
EXTRA = ["*crtbeginS.o(.text .text.*)", "*libc_nonshared.a:*(.text .text.*)", "*libgcc.a:_popcount*.o(.text .text.*)"]

BSS_BIG = 4096

# The line after the functions of the --first runs (tests/integration/text_order.sh: they fit
# the text segment's first 64 KiB, one fault-around window, the segments being 64 KiB-aligned).
WINDOW_END = "/* end of the start-up window */\n"

# The entry points every program calls, run in the sample programs or not; the rest of the
# exported family (memalign, valloc, the __libc_ names, aligned new) only when they ran.
ENTRY = ["tm_fini_nop", "malloc", "free", "calloc", "realloc", "_Znwm", "_Znam", "_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm",
         "posix_memalign", "aligned_alloc", "malloc_usable_size"]


def hot_pattern(name, cold):
    # The part of a function a start-up run executes.  .text.unlikely.NAME holds either the
    # whole of a cold function (our TM_SLOW_PATH) or the split cold part of one, a symbol
    # NAME.cold: that part joins only when it ran too; otherwise it goes with the rest.
    b = base(name)
    kinds = ("", ".startup", ".exit", ".hot") + ((".unlikely",) if cold else ())
    return " ".join(".text%s.%s .text%s.%s.*" % (k, b, k, b) for k in kinds)


def read_run(f, lib, syms, starts, demangled):
    """{symbol: instructions} and {symbol: size} of the library's code one callgrind file ran."""
    weight, size = collections.Counter(), {}
    # callgrind writes run-time addresses: the library's load address is the most common
    # difference between a function's lowest address run and its symbol's.
    ob = fn = None
    lines, low = [], {}
    for line in open(f):
        if line.startswith("ob="):
            ob = line[3:].strip()
            continue
        if line.startswith("fn="):
            fn = line[3:].strip()
            continue
        m = re.match(r"^(0x[0-9a-f]+) \S+ (\d+)", line)
        if m and ob and ob.endswith("/libtiermalloc.so"):
            addr = int(m.group(1), 16)
            lines.append((addr, int(m.group(2))))
            low[fn] = min(low.get(fn, addr), addr)
    deltas = collections.Counter(low[n] - demangled[n] for n in low if n in demangled)
    if not deltas:
        sys.exit("%s: no function of %s named in it (expected callgrind --dump-instr=yes output)" % (f, lib))
    load = deltas.most_common(1)[0][0]
    for addr, cost in lines:
        addr -= load
        i = bisect.bisect_right(starts, addr) - 1
        if i >= 0 and syms[i][0] <= addr < syms[i][0] + syms[i][1]:
            weight[syms[i][2]] += cost
            size[syms[i][2]] = syms[i][1]
    return weight, size


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--out", required=True, help="the list to write (interpose/text-hot.ld)")
    ap.add_argument("--first", action="append", default=[],
                    help="a callgrind file of a start-up run (`true`): the functions it ran come first, "
                         "before the line " + WINDOW_END.strip())
    ap.add_argument("--first-of", action="append", default=[], metavar="LIB:RUN",
                    help="a start-up run of another build of the library (Release: larger code, other "
                         "inlining): the functions it ran join the window too, by name")
    ap.add_argument("runs", nargs="+", help="callgrind output files")
    a = ap.parse_args()
    syms = symbols(a.lib)
    starts = [s[0] for s in syms]
    demangled = {}
    out = subprocess.run(["nm", "-C", "-n", a.lib], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        p = line.split(" ", 2)
        if len(p) == 3 and p[0] and p[1] in "tTwW":
            demangled.setdefault(p[2], int(p[0], 16))
    weight = collections.Counter()
    size = {}
    first = collections.Counter()
    for f in a.first + a.runs:
        w, s = read_run(f, a.lib, syms, starts, demangled)
        weight.update(w)
        size.update(s)
        if f in a.first:
            first.update(w)
    for spec in a.first_of:
        olib, _, orun = spec.partition(":")
        osyms = symbols(olib)
        odem = {}
        out = subprocess.run(["nm", "-C", "-n", olib], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            p = line.split(" ", 2)
            if len(p) == 3 and p[0] and p[1] in "tTwW":
                odem.setdefault(p[2], int(p[0], 16))
        w, _ = read_run(orun, olib, osyms, [x[0] for x in osyms], odem)
        here = {}
        for x in syms:
            here.setdefault(base(x[2]), (x[2], x[1]))
        for n, c in w.items():
            if base(n) in here:  # by its base name: the clone suffixes differ between builds
                m, sz = here[base(n)]
                first[m] += c
                weight[m] += c
                size.setdefault(m, sz)
    if not weight:
        sys.exit("%s: no instruction of libtiermalloc.so in the callgrind runs (expected --dump-instr=yes output)" % a.runs[0])
    for name in ENTRY:  # listed whether or not the sampled library has them
        size.setdefault(name, next((s[1] for s in syms if s[2] == name), 0))
        weight.setdefault(name, 0)
    # The start-up window: what the --first runs ran (hot parts), then everything else.
    window, cold_ran = [], set()
    split = {base(x[2]) for x in syms if ".cold" in x[2]}  # functions with a NAME.cold part
    for n in first:
        if ".cold" in n:
            cold_ran.add(base(n))
    first_bases = {base(n) for n in first}
    seen, wtotal = set(), 0
    for n in sorted(first, key=lambda n: (-weight[n], n)):
        p = hot_pattern(n, base(n) in cold_ran or base(n) not in split)
        if p not in seen:
            seen.add(p)
            window.append(p)
            wtotal += size[n]
    order = sorted(size, key=lambda n: (-weight[n], n))
    pats, total = [], 0
    for n in order:
        p = pattern(n)
        if base(n) in first_bases:
            # Its start-up part is in the window; what is left of it (the cold part) here.
            if base(n) in cold_ran or base(n) not in split:
                continue
            p = ".text.unlikely.%s .text.unlikely.%s.*" % (base(n), base(n))
        if p not in seen:
            seen.add(p)
            pats.append(p)
            total += size[n]
    with open(a.out, "w") as o:
        o.write("/* SPDX-License-Identifier: MIT\n"
                " * interpose/text-hot.ld -- written by scripts/text-order.py (see there): the code that\n"
                " * runs at start-up and on the allocation path, an input-section list INCLUDEd at the\n"
                " * start of the output section .text of the linker's own default script (CMakeLists.txt). */\n")
        for p in EXTRA:
            o.write("%s\n" % p)
        for p in window:
            o.write("*(%s)\n" % p)
        if a.first:
            o.write(WINDOW_END)
        for p in pats:
            o.write("*(%s)\n" % p)
    print("%d functions, %d bytes; %d of them, %d bytes, run by %s" % (len(window) + len(pats), wtotal + total, len(window),
          wtotal, " ".join(a.first) or "no --first run"), file=sys.stderr)
    # .bss: the large arrays first, so that the small variables (flags, locks, pointers) lie
    # together in a few pages instead of one page each between two arrays.
    out = subprocess.run(["nm", "-S", a.lib], capture_output=True, text=True, check=True).stdout
    big = set()
    for line in out.splitlines():
        p = line.split()
        if len(p) == 4 and p[2] in "bB" and int(p[1], 16) >= BSS_BIG:
            big.add(base(p[3]))
    bss = a.out.replace("text-hot.ld", "bss-big.ld")
    with open(bss, "w") as o:
        o.write("/* SPDX-License-Identifier: MIT\n"
                " * interpose/bss-big.ld -- written by scripts/text-order.py: the .bss arrays of %d bytes\n"
                " * and more, INCLUDEd first in the output section .bss (CMakeLists.txt); the small\n"
                " * variables follow them, packed. (Thread-locals are .tbss, not matched.) */\n" % BSS_BIG)
        for b in sorted(big):
            o.write("*(.bss.%s .bss.%s.*)\n" % (b, b))

if __name__ == "__main__":
    main()
