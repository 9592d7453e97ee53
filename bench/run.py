#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run the churn workloads under glibc, Debian's mimalloc and tiermalloc; compare.

Configurations (each a way of starting the same `churn` binary):
  glibc        no preload
  mimalloc     LD_PRELOAD of Debian's libmimalloc.so.2 (package libmimalloc2.0)
  tiermalloc   LD_PRELOAD of libtiermalloc.so, no policy (TIERMALLOC_POLICY unset)
  tm-policy    LD_PRELOAD of libtiermalloc.so with bench/policies/two-tiers.yaml
               (TIERMALLOC_STRICT=1, so a policy error fails the run instead of
               silently measuring plain allocation)
  tm-stats     tiermalloc with TIERMALLOC_STATS set (per-block tracking, timeline thread)
  tm-profile   tiermalloc with TIERMALLOC_PROFILE set (`tiermalloc record`'s mode)
               (these two only when --configs names them)
Call-site configurations, measured on the `sites` workload only (TIERMALLOC_STRICT=1 too):
  tm-sites     bench/policies/sites-functions.yaml: function rules naming churn's leaf
               functions, to two tiers and the default; every site decided once, then
               cached (a seen site's cost)
  tm-sites-1tier  bench/policies/sites-one-tier.yaml: the same, all leaves to one tier
               (the matching alone, without spreading the blocks over three heaps)
  tm-stack1    bench/policies/stack-depth1.yaml: a stack rule matching frame 1 (the site)
  tm-stack4    bench/policies/stack-depth4.yaml: stack_depth 4, the matching frame is the 4th
  tm-stack8    bench/policies/stack-depth8.yaml: stack_depth 8, the matching frame is the 8th
               (stack rules unwind on every allocation)
For these, the verification pass compares tiermalloc's per-tier allocation counts
(TIERMALLOC_STATS) with the per-leaf counts churn prints: each expected tier must have
received exactly its leaves' allocations, else the rules did not match and the run fails.
For tm-stack4 and tm-stack8 a copy of the policy with stack_depth one less must send
nothing to the stack tier: the matching frame is exactly that deep.

First a verification pass runs every workload once under every configuration (also a
warm-up): exit status 0 and the same checksum line everywhere, and for tiermalloc the
statistics file (tier allocation counts go into the JSON).  Then --rounds timed rounds,
round-robin over the configurations (the starting configuration rotates each round), each
run timed by wall clock and os.wait4 (user+sys time, peak RSS).  The table shows medians
and, against mimalloc, tiermalloc (no policy) and glibc, the median of per-round ratios (paired: the same round's
runs are close in time, which cancels some of the machine's drift).

--callgrind adds instruction counts (valgrind --tool=callgrind) of `churn small`, as
(Ir(ops=N) - Ir(ops=0)) / N: start-up, window fill and teardown cancel out, so the figure
is the steady-state cost of one free + malloc + the workload's own writes and checks.
The allocator's share (instructions executed in its shared object; for glibc, in libc's
malloc functions) is shown too, with the busiest functions.

--callgrind also counts `churn sites` (when that workload is selected) under every
configuration that runs it, with the share of the unwinder (libgcc_s, ld.so, libc) and the
frames _Unwind_Backtrace walked per allocation.

Exit status: 0 when every run of every available configuration succeeded with matching
checksums, every call-site configuration's rules matched as checked above (and, with
--expect, every expected configuration was measured); 1 otherwise.
Standard library only.
"""

import argparse
import atexit
import collections
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MIMALLOC = "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2"
DEFAULT_POLICY = os.path.join(HERE, "policies", "two-tiers.yaml")
CONFIG_ORDER = ["glibc", "mimalloc", "tiermalloc", "tm-policy", "tm-stats", "tm-profile", "tm-sites", "tm-sites-1tier",
                "tm-stack1", "tm-stack4", "tm-stack8"]
TM_CONFIGS = {"tiermalloc", "tm-policy", "tm-stats", "tm-profile", "tm-sites", "tm-sites-1tier", "tm-stack1", "tm-stack4",
              "tm-stack8"}
# Statistics and profiles cost (no policy): only when --configs names them.
STATS_CONFIGS = {"tm-stats": "TIERMALLOC_STATS", "tm-profile": "TIERMALLOC_PROFILE"}

# Call-site configurations: policy file, what the statistics must show (tier -> the churn
# leaves, tm_bench_leaf<k>, whose allocations it must have received, exactly), and for stack
# rules the stack_depth (the negative check runs the policy with one less).
SITE_CONFIGS = {
    "tm-sites": {"policy": "sites-functions.yaml", "expect": {"hot": [0, 1], "warm": [2]}},
    "tm-sites-1tier": {"policy": "sites-one-tier.yaml", "expect": {"hot": [0, 1, 2, 3]}},
    "tm-stack1": {"policy": "stack-depth1.yaml", "expect": {"stack": [0, 1, 2, 3]}, "stack_depth": 1},
    "tm-stack4": {"policy": "stack-depth4.yaml", "expect": {"stack": [0, 1, 2, 3]}, "stack_depth": 4},
    "tm-stack8": {"policy": "stack-depth8.yaml", "expect": {"stack": [0, 1, 2, 3]}, "stack_depth": 8},
}
SITE_WORKLOADS = {"sites"}  # the workloads the call-site configurations run on

# Workloads: name -> (churn arguments, ops in a full run, ops in a --quick run).
WORKLOADS = {
    "small": (["small"], 30_000_000, 200_000),
    "threads": (["threads", "{threads}"], 30_000_000, 200_000),
    "mixed": (["mixed"], 8_000_000, 100_000),
    # 4 leaf sites, malloc 8 frames below the loop (the stack policies' frames), 24 more
    # frames above it.  Fewer ops: a stack rule costs microseconds per allocation.
    "sites": (["sites", "--depth", "8", "--sites", "4", "--pad", "24"], 5_000_000, 50_000),
}
DEFAULT_WORKLOADS = "small,threads,mixed,sites"

# glibc's allocator functions, for its share of a callgrind profile (libc.so.6 also holds
# the rest of libc, which churn barely touches).
GLIBC_MALLOC_FUNCS = re.compile(
    r"^(__libc_)?(malloc|free|calloc|realloc|cfree)$|^_int_(malloc|free|realloc)|"
    r"^(tcache|malloc_|unlink_chunk|sysmalloc|alloc_perturb|free_perturb|systrim|"
    r"checked_request2size|_int_free_merge|_int_free_create|__malloc|__free)")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def applies(cfg, wl):
    """Whether configuration cfg runs on workload wl (call-site ones only on `sites`)."""
    return wl in SITE_WORKLOADS if cfg in SITE_CONFIGS else True


def clean_env():
    """The inherited environment less anything that would change an allocator's behaviour."""
    env = dict(os.environ)
    for k in list(env):
        if k in ("LD_PRELOAD", "LD_LIBRARY_PATH") or k.startswith(("TIERMALLOC_", "MIMALLOC_", "MALLOC_", "GLIBC_TUNABLES")):
            del env[k]
    return env


def make_configs(args):
    """[(name, env additions, note)]; env None means the configuration is skipped."""
    cfgs = []
    cfgs.append(("glibc", {}, "no preload"))
    if os.path.isfile(args.mimalloc):
        cfgs.append(("mimalloc", {"LD_PRELOAD": args.mimalloc}, args.mimalloc))
    else:
        cfgs.append(("mimalloc", None,
                     f"skipped: {args.mimalloc} not found (apt-get install libmimalloc2.0, or --mimalloc PATH)"))
    if args.lib and os.path.isfile(args.lib):
        lib = os.path.abspath(args.lib)
        cfgs.append(("tiermalloc", {"LD_PRELOAD": lib}, f"{lib}, no policy"))
        if os.path.isfile(args.policy):
            cfgs.append(("tm-policy", {"LD_PRELOAD": lib, "TIERMALLOC_POLICY": os.path.abspath(args.policy),
                                       "TIERMALLOC_STRICT": "1"}, f"policy {args.policy}"))
        else:
            cfgs.append(("tm-policy", None, f"skipped: policy {args.policy} not found"))
        named = set(args.configs.split(",")) if args.configs else set()
        for name, var in STATS_CONFIGS.items():
            if name in named:
                d = tempfile.mkdtemp(prefix=f"tm-bench-{name}-")
                atexit.register(shutil.rmtree, d, True)
                cfgs.append((name, {"LD_PRELOAD": lib, var: os.path.join(d, "%p.json")}, f"{lib}, {var} set"))
        for name, sc in SITE_CONFIGS.items():
            pol = os.path.join(HERE, "policies", sc["policy"])
            if os.path.isfile(pol):
                cfgs.append((name, {"LD_PRELOAD": lib, "TIERMALLOC_POLICY": pol, "TIERMALLOC_STRICT": "1"},
                             f"policy {os.path.relpath(pol)} (sites workload only)"))
            else:
                cfgs.append((name, None, f"skipped: policy {pol} not found"))
    else:
        why = f"{args.lib} not found" if args.lib else "no --lib given"
        cfgs.append(("tiermalloc", None, f"skipped: {why} (build target `tiermalloc`)"))
        cfgs.append(("tm-policy", None, f"skipped: {why}"))
        for name in SITE_CONFIGS:
            cfgs.append((name, None, f"skipped: {why}"))
    only = set(args.configs.split(",")) if args.configs else None
    if only:
        cfgs = [c for c in cfgs if c[0] in only]
    return cfgs


def run_once(argv, env, tmp):
    """Runs argv; returns dict(rc, wall, cpu, maxrss_kib, out, err)."""
    out_path = os.path.join(tmp, "out")
    err_path = os.path.join(tmp, "err")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
    with open(out_path, "rb") as f:
        o = f.read().decode(errors="replace").strip()
    with open(err_path, "rb") as f:
        e = f.read().decode(errors="replace").strip()
    # churn --peak-rss reports its own VmHWM: ru_maxrss also counts the RSS this Python
    # process had when it forked the child (kept across exec), a floor of ~16 MiB.
    m = re.search(r"^peak_rss_kib (\d+)$", e, re.M)
    rss = int(m.group(1)) if m else ru.ru_maxrss
    e = re.sub(r"^peak_rss_kib \d+\n?", "", e, flags=re.M).strip()
    # churn sites: allocations per leaf function, what the statistics are checked against.
    m = re.search(r"^site_allocs ((?:\d+ ?)+)$", e, re.M)
    site_allocs = [int(x) for x in m.group(1).split()] if m else None
    e = re.sub(r"^site_allocs [\d ]+\n?", "", e, flags=re.M).strip()
    return {"rc": p.returncode, "wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "user": ru.ru_utime,
            "sys": ru.ru_stime, "maxrss_kib": rss, "ru_maxrss_kib": ru.ru_maxrss, "out": o, "err": e,
            "site_allocs": site_allocs}


def churn_argv(args, wl, ops):
    base, _, _ = WORKLOADS[wl]
    argv = [args.bin] + [a.format(threads=args.threads) for a in base] + ["--ops", str(ops), "--peak-rss", "1"]
    if args.window:
        argv += ["--window", str(args.window)]
    return argv


def wl_label(args, wl):
    return f"threads {args.threads}" if wl == "threads" else wl


def median(xs):
    return statistics.median(xs) if xs else float("nan")


# ---- callgrind ------------------------------------------------------------------------------

def parse_callgrind(path):
    """Self cost (first event, Ir) per (object, function) of a callgrind output file, and
    the number of calls to each function (by name)."""
    names = {"ob": {}, "fn": {}, "fl": {}}
    cost = collections.Counter()
    calls = collections.Counter()
    ob = fn = cfn = None
    skip_next = False
    total = None
    ref = re.compile(r"^\((\d+)\)(?: (.*))?$")

    def name(kind, v):
        m = ref.match(v)
        if not m:
            return v
        if m.group(2) is not None:
            names[kind][m.group(1)] = m.group(2)
            return m.group(2)
        return names[kind].get(m.group(1), v)

    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                if skip_next:  # the inclusive cost of a call: not this function's own
                    skip_next = False
                    continue
                parts = line.split()
                if len(parts) >= 2:
                    cost[(ob, fn)] += int(parts[1])
                continue
            key, _, val = line.partition("=")
            if key == "ob":
                ob = name("ob", val)
            elif key == "fn":
                fn = name("fn", val)
            elif key in ("fl", "fi", "fe"):
                name("fl", val)
            elif key == "cob":
                name("ob", val)
            elif key == "cfn":
                cfn = name("fn", val)
            elif key in ("cfi", "cfl"):
                name("fl", val)
            elif key == "calls":
                skip_next = True
                calls[cfn] += int(val.split()[0])
            elif line.startswith("totals:") or line.startswith("summary:"):
                total = int(line.split()[1])
    return total, cost, calls


def allocator_share(cfg, cost, lib_names):
    """Ir spent in the allocator: its shared object, or glibc's malloc functions."""
    n = 0
    for (ob, fn), c in cost.items():
        base = os.path.basename(ob or "")
        if cfg == "glibc":
            if base.startswith("libc.so") and fn and GLIBC_MALLOC_FUNCS.search(fn):
                n += c
        elif base in lib_names.get(cfg, ()):
            n += c
    return n


# Shared objects whose share of a profile the call-site table breaks out (base name prefix ->
# column): the unwinder (libgcc_s), the dynamic linker (_dl_find_object, asked for each
# frame's unwind tables), libc (strlen of CIE augmentation strings, among others).
OBJECT_COLUMNS = [("libgcc_s", "libgcc_s"), ("ld-linux", "ld.so"), ("libc.so", "libc")]
WALK_FRAME = re.compile(r"walk_frame\(")  # sites.cpp's _Unwind_Backtrace callback: one call per frame


def run_callgrind(args, cfgs, tmp, wl, ops_n):
    if not shutil.which("valgrind"):
        log("callgrind: valgrind not found, skipped")
        return {"skipped": "valgrind not found"}
    res = {"ops": ops_n, "workload": wl, "configs": {}}
    tm_lib = os.path.basename(args.lib or "")
    lib_names = {"mimalloc": {os.path.basename(args.mimalloc), "libmimalloc.so.2.0"}}
    lib_names.update({n: {tm_lib} for n in TM_CONFIGS})
    for name, extra, _ in cfgs:
        if extra is None or not applies(name, wl):
            continue
        per = {}
        for ops in (ops_n, 0):
            out = os.path.join(tmp, f"cg.{wl}.{name}.{ops}")
            env = clean_env()
            env.update(extra)
            argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + churn_argv(args, wl, ops)
            r = run_once(argv, env, tmp)
            if r["rc"] != 0 or not os.path.exists(out):
                log(f"callgrind {name} ops={ops}: failed (rc {r['rc']}): {r['err'][-500:]}")
                per = None
                break
            per[ops] = parse_callgrind(out)
        if per is None:
            res["configs"][name] = {"error": "valgrind run failed"}
            continue
        n = ops_n
        (tn, cn, kn), (t0, c0, k0) = per[n], per[0]
        alloc_n = allocator_share(name, cn, lib_names)
        alloc_0 = allocator_share(name, c0, lib_names)
        delta = collections.Counter(cn)
        delta.subtract(c0)
        # The allocator's busiest functions (the workload's own are the same everywhere).
        bench_obj = os.path.basename(args.bin)
        top = [(f"{fn} [{os.path.basename(ob or '?')}]", c / n) for (ob, fn), c in delta.most_common()
               if os.path.basename(ob or "") != bench_obj][:8]
        # Per shared object, per op (the workload's own code is the same in every config).
        objects = collections.Counter()
        for (ob, fn), c in delta.items():
            objects[os.path.basename(ob or "?")] += c
        frames = sum(v for f, v in kn.items() if f and WALK_FRAME.search(f)) - \
            sum(v for f, v in k0.items() if f and WALK_FRAME.search(f))
        res["configs"][name] = {
            "ir_total": tn, "ir_startup": t0, "ir_per_op": (tn - t0) / n,
            "alloc_ir_per_op": (alloc_n - alloc_0) / n,
            "objects_ir_per_op": {ob: c / n for ob, c in objects.most_common() if abs(c / n) >= 0.05},
            "frames_walked_per_op": frames / n,
            "top_functions_per_op": top,
        }
        log(f"callgrind {wl} {name}: {(tn - t0) / n:.1f} Ir/op")
    return res


# ---- the report ------------------------------------------------------------------------------

def fmt_ratio(x):
    return "   -  " if x is None or x != x else f"{x:5.2f}x"


def paired_ratio(runs, a, b):
    """Median over rounds of wall(a)/wall(b), rounds where both ran."""
    ra = {r["round"]: r["wall"] for r in runs.get(a, [])}
    rb = {r["round"]: r["wall"] for r in runs.get(b, [])}
    common = sorted(set(ra) & set(rb))
    if not common:
        return None
    return statistics.median(ra[k] / rb[k] for k in common)


# ---- call-site verification -------------------------------------------------------------------

def read_tiers(path):
    """{tier: {allocations, frees, bytes_allocated}} from a TIERMALLOC_STATS file, or None."""
    try:
        with open(path) as f:
            st = json.load(f)
        return {t["name"]: {"allocations": t.get("allocations"), "frees": t.get("frees"),
                            "bytes_allocated": t.get("bytes_allocated")} for t in st.get("tiers", [])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_site_rules(wl, name, v, site_allocs):
    """The rules matched: each expected tier received exactly its leaves' allocations."""
    tiers = v.get("tiers")
    if site_allocs is None:
        return [f"{wl}/{name}: churn printed no site_allocs line (not the sites workload?)"]
    if tiers is None:
        return [f"{wl}/{name}: no TIERMALLOC_STATS statistics, cannot check that the call-site rules matched"]
    fails = []
    checks = {}
    for tier, leaves in SITE_CONFIGS[name]["expect"].items():
        want = sum(site_allocs[k] for k in leaves)
        got = (tiers.get(tier) or {}).get("allocations")
        checks[tier] = {"want": want, "got": got}
        if got != want:
            fails.append(f"{wl}/{name}: tier {tier!r} received {got} allocations, expected {want} "
                         f"(tm_bench_leaf{leaves}): the call-site rules did not match as they should")
    v["rule_check"] = checks
    return fails


def check_shallower(wl, name, argv, extra, tmp, env_for, failures):
    """The policy with stack_depth one less must match nothing: the named frame is exactly
    stack_depth frames deep (the chain was neither inlined nor tail-called)."""
    d = SITE_CONFIGS[name]["stack_depth"]
    with open(extra["TIERMALLOC_POLICY"]) as f:
        text = f.read()
    text2, n = re.subn(rf"^stack_depth: *{d}\b", f"stack_depth: {d - 1}", text, flags=re.M)
    if n != 1:
        failures.append(f"{wl}/{name}: {extra['TIERMALLOC_POLICY']} has no 'stack_depth: {d}' line")
        return None
    pol = os.path.join(tmp, f"{name}-depth{d - 1}.yaml")
    with open(pol, "w") as f:
        f.write(text2)
    stats = os.path.join(tmp, f"stats.{name}.shallower.json")
    e = dict(extra, TIERMALLOC_POLICY=pol)
    r = run_once(argv, env_for(e, stats), tmp)
    tiers = read_tiers(stats) if r["rc"] == 0 else None
    got = None if tiers is None else sum((t or {}).get("allocations") or 0
                                         for tn, t in tiers.items() if tn in SITE_CONFIGS[name]["expect"])
    if r["rc"] != 0:
        failures.append(f"{wl}/{name} with stack_depth {d - 1}: exit status {r['rc']}: {r['err'][-400:]}")
    elif got != 0:
        failures.append(f"{wl}/{name} with stack_depth {d - 1}: {got} allocations matched (expected none): "
                        f"the matching frame is not exactly {d} deep")
    return {"stack_depth": d - 1, "matched": got}


def fmt_delta(x):
    return "     -" if x is None or x != x else f"{x:+8.1f}"


def report(args, cfgs, results, cg, cg_sites=None):
    lines = []
    lines.append(f"churn benchmark: {args.rounds} round(s), host {platform.node()}, {os.cpu_count()} CPUs")
    for name, extra, note in cfgs:
        lines.append(f"  {name:14s} {note}")
    lines.append("")
    hdr = (f"{'workload':10s} {'config':14s} {'wall s':>7s} {'[min..max]':>15s} {'ns/op':>7s} {'cpu s':>6s} "
           f"{'RSS MiB':>8s} {'vs mimalloc':>11s} {'vs tiermalloc':>13s} {'vs glibc':>9s}")
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for wl, per in results.items():
        runs = per["runs"]
        for name, extra, _ in cfgs:
            if not applies(name, wl):
                continue
            if extra is None:
                lines.append(f"{per['label']:10s} {name:14s}  (skipped)")
                continue
            rs = runs.get(name, [])
            if not rs:
                lines.append(f"{per['label']:10s} {name:14s}  (no successful run)")
                continue
            walls = [r["wall"] for r in rs]
            lines.append(
                f"{per['label']:10s} {name:14s} {median(walls):7.3f} {f'[{min(walls):.2f}..{max(walls):.2f}]':>15s} "
                f"{median(walls) / max(per['ops'], 1) * 1e9:7.1f} "
                f"{median([r['cpu'] for r in rs]):6.2f} {median([r['maxrss_kib'] for r in rs]) / 1024:8.1f} "
                f"{fmt_ratio(paired_ratio(runs, name, 'mimalloc')):>11s} "
                f"{fmt_ratio(paired_ratio(runs, name, 'tiermalloc')):>13s} {fmt_ratio(paired_ratio(runs, name, 'glibc')):>9s}")
        lines.append("")
    if cg and cg.get("configs"):
        lines.append(f"instructions (callgrind, churn small, {cg['ops']} ops; per op = one free + one malloc + workload)")
        hdr = f"{'config':14s} {'Ir/op':>8s} {'alloc Ir/op':>12s} {'vs mimalloc':>12s} {'vs glibc':>9s}"
        lines.append(hdr)
        lines.append("-" * len(hdr))
        c = cg["configs"]

        def ir(n):
            return c.get(n, {}).get("ir_per_op")
        for name in CONFIG_ORDER:
            if name not in c:
                continue
            d = c[name]
            if "error" in d:
                lines.append(f"{name:14s} {d['error']}")
                continue
            vm = d["ir_per_op"] / ir("mimalloc") if ir("mimalloc") else None
            vg = d["ir_per_op"] / ir("glibc") if ir("glibc") else None
            lines.append(f"{name:14s} {d['ir_per_op']:8.1f} {d['alloc_ir_per_op']:12.1f} {fmt_ratio(vm):>12s} {fmt_ratio(vg):>9s}")
        for name in CONFIG_ORDER:
            d = c.get(name)
            if not d or "error" in d:
                continue
            lines.append(f"  {name}: allocator's busiest functions, Ir/op: " +
                         ", ".join(f"{fn} {v:.1f}" for fn, v in d["top_functions_per_op"][:5]))
        lines.append("")
    if cg_sites and cg_sites.get("configs"):
        c = cg_sites["configs"]
        lines.append(f"instructions (callgrind, churn {' '.join(WORKLOADS['sites'][0])}, {cg_sites['ops']} ops; "
                     "per op = one free + one malloc 8 frames down + workload)")
        hdr = (f"{'config':14s} {'Ir/op':>8s} {'-mimalloc':>9s} {'-tiermalloc':>11s} {'vs mimalloc':>11s} "
               f"{'vs tiermalloc':>13s} {'alloc.so':>9s} " + " ".join(f"{col:>8s}" for _, col in OBJECT_COLUMNS) +
               f" {'frames':>6s}")
        lines.append(hdr)
        lines.append("-" * len(hdr))

        def ir(n):
            d = c.get(n, {})
            return d.get("ir_per_op")
        for name in CONFIG_ORDER:
            if name not in c:
                continue
            d = c[name]
            if "error" in d:
                lines.append(f"{name:14s} {d['error']}")
                continue
            x = d["ir_per_op"]
            objs = d.get("objects_ir_per_op", {})
            cols = []
            for prefix, _ in OBJECT_COLUMNS:
                cols.append(sum(v for ob, v in objs.items() if ob.startswith(prefix)))
            lines.append(
                f"{name:14s} {x:8.1f} {fmt_delta(x - ir('mimalloc') if ir('mimalloc') else None):>9s} "
                f"{fmt_delta(x - ir('tiermalloc') if ir('tiermalloc') else None):>11s} "
                f"{fmt_ratio(x / ir('mimalloc') if ir('mimalloc') else None):>11s} "
                f"{fmt_ratio(x / ir('tiermalloc') if ir('tiermalloc') else None):>13s} "
                f"{d['alloc_ir_per_op']:9.1f} " + " ".join(f"{v:8.1f}" for v in cols) +
                f" {d.get('frames_walked_per_op', 0):6.1f}")
        lines.append("  -mimalloc/-tiermalloc: Ir/op minus that configuration's; alloc.so: in the allocator's own "
                     "object; libgcc_s/ld.so/libc: the unwinder and what it calls; frames: stack frames "
                     "_Unwind_Backtrace walked per allocation (walk_frame calls)")
        for name in CONFIG_ORDER:
            d = c.get(name)
            if not d or "error" in d or name not in SITE_CONFIGS:
                continue
            lines.append(f"  {name}: busiest functions outside churn, Ir/op: " +
                         ", ".join(f"{fn} {v:.1f}" for fn, v in d["top_functions_per_op"][:6]))
        lines.append("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", help="libtiermalloc.so")
    ap.add_argument("--bin", required=True, help="the churn binary")
    ap.add_argument("--mimalloc", default=DEFAULT_MIMALLOC, help=f"mimalloc to preload (default {DEFAULT_MIMALLOC})")
    ap.add_argument("--policy", default=DEFAULT_POLICY, help="policy of the tm-policy configuration")
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds (default 5; 1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="few operations, one round: a smoke run")
    ap.add_argument("--workloads", default=DEFAULT_WORKLOADS, help=f"comma list of {', '.join(WORKLOADS)}")
    ap.add_argument("--configs", default=None, help=f"comma list, subset of {', '.join(CONFIG_ORDER)}")
    ap.add_argument("--threads", type=int, default=2, help="threads of the `threads` workload (default 2)")
    ap.add_argument("--ops", type=int, default=None, help="operations per run (default: per workload)")
    ap.add_argument("--window", type=int, default=None, help="live blocks per thread (default: churn's, 4096)")
    ap.add_argument("--json", help="write results here")
    ap.add_argument("--expect", default=None,
                    help="comma list of configurations that must be measured (else exit 1)")
    ap.add_argument("--callgrind", action="store_true", help="also count instructions with callgrind")
    ap.add_argument("--callgrind-ops", type=int, default=1_000_000, help="ops of the callgrind run (default 1M)")
    ap.add_argument("--callgrind-sites-ops", type=int, default=200_000,
                    help="ops of the callgrind run of `sites` (default 200k: stack rules cost ~10^4 Ir/op)")
    args = ap.parse_args()
    if args.rounds is None:
        args.rounds = 1 if args.quick else 5
    if args.quick:
        args.callgrind_ops = min(args.callgrind_ops, 100_000)
        args.callgrind_sites_ops = min(args.callgrind_sites_ops, 20_000)
    args.bin = os.path.abspath(args.bin)
    if not os.access(args.bin, os.X_OK):
        log(f"run.py: {args.bin}: not an executable (build target `churn`)")
        return 1
    wls = [w for w in args.workloads.split(",") if w]
    for w in wls:
        if w not in WORKLOADS:
            log(f"run.py: unknown workload {w!r} (expected {', '.join(WORKLOADS)})")
            return 1

    cfgs = make_configs(args)
    for name, extra, note in cfgs:
        if extra is None:
            log(f"note: {name} {note}")
    live = [c for c in cfgs if c[1] is not None]
    failures = []
    results = {}

    with tempfile.TemporaryDirectory(prefix="tm-bench-") as tmp:
        def env_for(extra, stats=None):
            env = clean_env()
            env.update(extra)
            if stats:
                env["TIERMALLOC_STATS"] = stats
            return env

        # Verification pass (and warm-up): status, checksums, tiermalloc's statistics.
        for wl in wls:
            ops = args.ops or (WORKLOADS[wl][2] if args.quick else WORKLOADS[wl][1])
            argv = churn_argv(args, wl, ops)
            per = {"label": wl_label(args, wl), "argv": argv[1:], "ops": ops, "checksum": None,
                   "verify": {}, "runs": {}}
            results[wl] = per
            for name, extra, _ in live:
                if not applies(name, wl):
                    continue
                stats = os.path.join(tmp, f"stats.{name}.{wl}.json") if name in TM_CONFIGS else None
                r = run_once(argv, env_for(extra, stats), tmp)
                v = {"rc": r["rc"], "out": r["out"], "wall": r["wall"]}
                if r["site_allocs"] is not None:
                    v["site_allocs"] = r["site_allocs"]
                if r["rc"] != 0:
                    failures.append(f"{wl}/{name}: exit status {r['rc']}: {r['err'][-400:]}")
                elif per["checksum"] is None:
                    per["checksum"] = r["out"]
                elif r["out"] != per["checksum"]:
                    failures.append(f"{wl}/{name}: output {r['out']!r} differs from {per['checksum']!r}")
                if r["err"]:
                    v["stderr"] = r["err"][-400:]
                if stats:
                    v["tiers"] = read_tiers(stats)
                    if v["tiers"] is None:
                        log(f"note: {wl}/{name}: no statistics from TIERMALLOC_STATS")
                if name in SITE_CONFIGS and r["rc"] == 0:
                    failures += check_site_rules(wl, name, v, r["site_allocs"])
                    if SITE_CONFIGS[name].get("stack_depth", 1) > 1:
                        v["shallower"] = check_shallower(wl, name, argv, extra, tmp, env_for, failures)
                per["verify"][name] = v
            log(f"verified {per['label']}: {per['checksum']}")

        # Timed rounds, round-robin; the first configuration rotates.
        for rnd in range(args.rounds):
            for wl in wls:
                per = results[wl]
                argv = [args.bin] + per["argv"]
                here = [c for c in live if applies(c[0], wl)]
                k = rnd % len(here) if here else 0
                for name, extra, _ in here[k:] + here[:k]:
                    r = run_once(argv, env_for(extra), tmp)
                    if r["rc"] != 0:
                        failures.append(f"{wl}/{name} round {rnd}: exit status {r['rc']}: {r['err'][-400:]}")
                        continue
                    if r["out"] != per["checksum"]:
                        failures.append(f"{wl}/{name} round {rnd}: output {r['out']!r} differs from {per['checksum']!r}")
                        continue
                    per["runs"].setdefault(name, []).append(
                        {"round": rnd, "wall": r["wall"], "cpu": r["cpu"], "user": r["user"], "sys": r["sys"],
                         "maxrss_kib": r["maxrss_kib"]})
            log(f"round {rnd + 1}/{args.rounds} done")

        cg = run_callgrind(args, cfgs, tmp, "small", args.callgrind_ops) if args.callgrind else None
        cg_sites = None
        if args.callgrind and "sites" in wls:
            cg_sites = run_callgrind(args, cfgs, tmp, "sites", args.callgrind_sites_ops)

    # Summaries, into the JSON as well.
    for wl, per in results.items():
        summ = {}
        for name, extra, _ in live:
            rs = per["runs"].get(name, [])
            if not rs:
                continue
            summ[name] = {"wall_median": median([r["wall"] for r in rs]),
                          "ns_per_op": median([r["wall"] for r in rs]) / max(per["ops"], 1) * 1e9,
                          "cpu_median": median([r["cpu"] for r in rs]),
                          "maxrss_kib_median": median([r["maxrss_kib"] for r in rs]),
                          "vs_mimalloc": paired_ratio(per["runs"], name, "mimalloc"),
                          "vs_tiermalloc": paired_ratio(per["runs"], name, "tiermalloc"),
                          "vs_glibc": paired_ratio(per["runs"], name, "glibc")}
        per["summary"] = summ

    print(report(args, cfgs, results, cg, cg_sites))

    if args.expect:
        for name in args.expect.split(","):
            if not any(applies(name, wl) for wl in results):
                failures.append(f"{name}: expected configuration, but no selected workload runs it")
            for wl, per in results.items():
                if applies(name, wl) and not per["runs"].get(name):
                    failures.append(f"{wl}/{name}: expected configuration not measured")

    doc = {"version": 1, "host": platform.node(), "cpus": os.cpu_count(), "rounds": args.rounds,
           "quick": args.quick,
           "configs": [{"name": n, "env": e, "note": note, "skipped": e is None,
                        "workloads": [w for w in results if applies(n, w)]} for n, e, note in cfgs],
           "workloads": results, "callgrind": cg, "callgrind_sites": cg_sites, "failures": failures,
           "ok": not failures}
    if args.json:
        tmpjson = args.json + ".tmp"
        with open(tmpjson, "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(tmpjson, args.json)
        # Read it back: what a consumer sees must hold every expected configuration.
        with open(args.json) as f:
            back = json.load(f)
        if args.expect:
            for name in args.expect.split(","):
                for wl, per in back["workloads"].items():
                    if applies(name, wl) and name not in per.get("summary", {}):
                        failures.append(f"{args.json}: {wl} has no summary for {name}")

    for f in failures:
        log(f"FAIL: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
