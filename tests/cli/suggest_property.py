#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Property test of `tiermalloc suggest`: for random profiles (random modules, functions with glob
# and quote characters, sizes, lifetimes, budgets), suggest succeeds, and `tiermalloc check`
# accepts what it wrote.  Seeded: a failure names its seed and is reproducible.
#   suggest_property.py TIERMALLOC WORKDIR [COUNT]
import json, os, random, subprocess, sys

cli, work = sys.argv[1:3]
count = int(sys.argv[3]) if len(sys.argv) > 3 else 60
os.makedirs(work, exist_ok=True)
MiB = 1 << 20
names = ["alloc", "Foo::bar", "operator new[]", "a*b?c[d]", "it's", "x\\y", "_ZN3foo3barEv", "π_unicode", "" ]
mods = ["libfoo.so", "libbar.so.1", "prog", "lib[x].so", "it's.so", "(other)"]
for seed in range(count):
    rnd = random.Random(seed)
    sites = []
    for k in range(rnd.randint(0, 40)):
        lo = 1 << rnd.randint(0, 30)
        nb = rnd.randint(1, 4)
        hist, total = [], 0
        for b in range(nb):
            blo = lo << b
            c = rnd.randint(1, 100000)
            hist.append([blo, 2 * blo - 1, c])
            total += c
        frees = rnd.randint(0, total)
        fn = rnd.choice(names) + (str(k) if rnd.random() < 0.5 else "")
        sites.append({"module": rnd.choice(mods), "function": fn or None, "offset": hex(rnd.randint(0, 1 << 20)),
                      "api": rnd.choice(["malloc", "calloc", "realloc", "new", "aligned", "mmap"]),
                      "allocations": total, "frees": frees, "bytes": total * lo, "bytes_live": 0,
                      "bytes_peak": rnd.randint(0, 1 << 32), "size_min": lo, "size_max": (lo << (nb - 1)) * 2 - 1,
                      "histogram": hist,
                      "lifetime_ms": {"mean": rnd.random() * 5000, "max": 5000} if frees else {"mean": None, "max": None},
                      "live_at_exit": total - frees, **({"peak_share": rnd.random()} if rnd.random() < 0.5 else {})})
    prof = os.path.join(work, "p%d.json" % seed)
    json.dump({"version": 1, "kind": "profile", "pid": seed, "program": "/bin/x", "elapsed_ms": rnd.randint(1, 10000),
               "bytes_peak": rnd.randint(0, 1 << 34), "sites": sites}, open(prof, "w"))
    args = [cli, "suggest", prof, "-o", prof + ".yaml", "--scratch-path", "/tmp"]
    for t in ("fast", "dram", "capacity", "scratch"):
        if rnd.random() < 0.5:
            args += ["--budget", "%s=%dMiB" % (t, rnd.randint(1, 4096))]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("seed %d: suggest failed (%d): %s" % (seed, r.returncode, r.stderr))
    c = subprocess.run([cli, "check", prof + ".yaml"], capture_output=True, text=True)
    if c.returncode != 0 or ": ok, " not in c.stdout:
        sys.exit("seed %d: check refused the policy: %s%s" % (seed, c.stdout, c.stderr))
print("ok: %d random profiles" % count)
