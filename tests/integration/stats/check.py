#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks statistics and profile files of tests/integration/stats.

  check.py exact STATS            exact.c's figures, to the byte, and its timeline
  check.py halving STATS          exact.c run with a 1 ms interval: the timeline was halved
  check.py profile PROFILE        exact.c's profile (histograms, lifetimes, peaks)
  check.py signal D1 D2 EXIT THREADS WINDOW MAXSIZE
                                  signal.c's dumps: consistent, monotonic; the exit dump exact
  check.py python PROFILE         a profile of python3 -c (record)
"""
import json
import sys

MIB2 = 2 << 20


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        fail("%s: not a readable JSON file: %s" % (path, e))


def by_function(doc, path):
    out = {}
    for s in doc.get("sites", []):
        if s.get("function"):
            out.setdefault(s["function"], []).append(s)
    return out


# function -> expected figures (exact.c)
SITES = {
    "hot_small": dict(api="malloc", allocations=10, frees=4, bytes=699, bytes_live=600, bytes_peak=699, tier="near", rule=None),
    "named_calloc": dict(api="calloc", allocations=2, frees=1, bytes=640, bytes_live=320, bytes_peak=640, tier="mid", rule="calloc-fn"),
    "aligned_one": dict(api="aligned", allocations=1, frees=0, bytes=1000, bytes_live=1000, bytes_peak=1000, tier="mid", rule="rule-3"),
    "grow": dict(api="realloc", allocations=3, frees=3, bytes=5300, bytes_live=0, bytes_peak=5000, tier="near", rule=None),
    "slow_lived": dict(api="malloc", allocations=2, frees=2, bytes=8192, bytes_live=0, bytes_peak=4096, tier="near", rule=None),
    "big_buffers": dict(api="malloc", allocations=3, frees=3, bytes=3 * MIB2, bytes_live=0, bytes_peak=3 * MIB2, tier="far", rule="large"),
}
# Profiles only: mmap'ed regions by call site.
MAPPED = dict(api="mmap", allocations=3, frees=3, bytes=65536 + 16384 + 32768, bytes_live=0, bytes_peak=65536, tier="plain", rule=None)
TIERS = {
    "plain": dict(allocations=0, frees=0, bytes=0, bytes_live=0, bytes_peak=0),
    "near": dict(allocations=15, frees=9, bytes=14191, bytes_live=600, bytes_peak=5600),
    "far": dict(allocations=3, frees=3, bytes=3 * MIB2, bytes_live=0, bytes_peak=3 * MIB2),
    "mid": dict(allocations=3, frees=1, bytes=1640, bytes_live=1320, bytes_peak=1320),
}
RULES = {"large": (3, 3 * MIB2, "far"), "calloc-fn": (2, 640, "mid"), "rule-3": (1, 1000, "mid")}
HIST = {
    "hot_small": [[16, 31, 3], [32, 63, 1], [64, 127, 6]],
    "named_calloc": [[256, 511, 2]],
    "aligned_one": [[512, 1023, 1]],
    "grow": [[64, 127, 1], [128, 255, 1], [4096, 8191, 1]],
    "slow_lived": [[4096, 8191, 2]],
    "big_buffers": [[2097152, 4194303, 3]],
    "mapped": [[16384, 32767, 1], [32768, 65535, 1], [65536, 131071, 1]],
}
PEAK = 600 + 1320 + 3 * MIB2  # live bytes of the whole process while big_buffers holds its blocks


def check_sites(doc, path, profile=False):
    sites = by_function(doc, path)
    expected = dict(SITES, mapped=MAPPED) if profile else SITES
    for fn, want in expected.items():
        got = sites.get(fn)
        if not got or len(got) != 1:
            fail("%s: expected one site in function %s, found %d (sites: %s)" % (path, fn, len(got or []), sorted(sites)))
        s = got[0]
        if s.get("module") != "integ_stats_exact":
            fail("%s: site %s: module %r, expected 'integ_stats_exact'" % (path, fn, s.get("module")))
        if not isinstance(s.get("offset"), str) or not s["offset"].startswith("0x"):
            fail("%s: site %s: offset %r, expected a hex string" % (path, fn, s.get("offset")))
        for k, v in want.items():
            if s.get(k) != v:
                fail("%s: site %s: %s = %r, expected %r" % (path, fn, k, s.get(k), v))
    others = [s for s in doc["sites"] if s.get("function") not in expected]
    if others:
        fail("%s: unexpected call sites (nothing else allocates after start-up): %s" % (path, others))
    order = [s["bytes"] for s in doc["sites"]]
    if order != sorted(order, reverse=True):
        fail("%s: sites not busiest first (bytes %s)" % (path, order))
    return sites


def cmd_exact(path):
    doc = load(path)
    for k, v in (("version", 1), ("reason", "exit")):
        if doc.get(k) != v:
            fail("%s: %s = %r, expected %r" % (path, k, doc.get(k), v))
    if not str(doc.get("policy", "")).endswith("policy.yaml"):
        fail("%s: policy = %r, expected the policy file" % (path, doc.get("policy")))
    if not isinstance(doc.get("elapsed_ms"), int) or doc["elapsed_ms"] < 230:
        fail("%s: elapsed_ms = %r, expected >= 230 (the program sleeps 230 ms)" % (path, doc.get("elapsed_ms")))
    tiers = {t["name"]: t for t in doc["tiers"]}
    if sorted(tiers) != sorted(TIERS):
        fail("%s: tiers %s, expected %s" % (path, sorted(tiers), sorted(TIERS)))
    for name, want in TIERS.items():
        for k, v in want.items():
            if tiers[name].get(k) != v:
                fail("%s: tier %s: %s = %r, expected %r" % (path, name, k, tiers[name].get(k), v))
    rules = {r["name"]: r for r in doc["rules"]}
    for name, (m, b, t) in RULES.items():
        r = rules.get(name)
        if not r or (r.get("matches"), r.get("bytes"), r.get("tier")) != (m, b, t):
            fail("%s: rule %s = %r, expected matches %d bytes %d tier %s" % (path, name, r, m, b, t))
    check_sites(doc, path)
    tl = doc.get("timeline")
    if not isinstance(tl, dict) or tl.get("interval_ms") != 10:
        fail("%s: timeline %r, expected interval_ms 10" % (path, tl and tl.get("interval_ms")))
    t = tl["t_ms"]
    if len(t) < 10 or any(b < a for a, b in zip(t, t[1:])):
        fail("%s: timeline t_ms %s: expected >= 10 increasing sample times" % (path, t))
    for name in TIERS:
        v = tl["tiers"].get(name)
        if v is None or len(v) != len(t):
            fail("%s: timeline of tier %s: %r samples, expected %d" % (path, name, v and len(v), len(t)))
        if max(v) > tiers[name]["bytes_peak"]:
            fail("%s: timeline of tier %s reaches %d, above its peak %d" % (path, name, max(v), tiers[name]["bytes_peak"]))
    far = tl["tiers"]["far"]
    if far.count(3 * MIB2) < 5:
        fail("%s: timeline of tier far: %s; expected >= 5 samples of %d (held 150 ms, 10 ms interval)" % (path, far, 3 * MIB2))
    if tl["tiers"]["mid"][-1] != 1320 or far[-1] != 0:
        fail("%s: timeline's last sample: mid %d far %d, expected 1320 and 0" % (path, tl["tiers"]["mid"][-1], far[-1]))
    print("exact: %d sites, %d tiers, %d rules, %d timeline samples: PASS" % (len(doc["sites"]), len(tiers), len(rules), len(t)))


def cmd_halving(path):
    doc = load(path)
    tl = doc["timeline"]
    n = len(tl["t_ms"])
    if tl["interval_ms"] < 2 or n > 1024 or n < 200:
        fail("%s: 1 ms interval over %d ms: interval_ms %d, %d samples; expected the resolution halved (>= 2 ms, <= 1024 samples)"
             % (path, doc["elapsed_ms"], tl["interval_ms"], n))
    gaps = [b - a for a, b in zip(tl["t_ms"], tl["t_ms"][1:-1])]
    if min(gaps) < tl["interval_ms"] // 2:
        fail("%s: samples %d ms apart with interval_ms %d after halving" % (path, min(gaps), tl["interval_ms"]))
    print("halving: interval_ms %d, %d samples over %d ms: PASS" % (tl["interval_ms"], n, doc["elapsed_ms"]))


def cmd_profile(path):
    doc = load(path)
    for k, v in (("version", 1), ("kind", "profile"), ("bytes_peak", PEAK)):
        if doc.get(k) != v:
            fail("%s: %s = %r, expected %r" % (path, k, doc.get(k), v))
    sites = check_sites(doc, path, profile=True)
    for fn, hist in HIST.items():
        s = sites[fn][0]
        if s.get("histogram") != hist:
            fail("%s: site %s: histogram %r, expected %r" % (path, fn, s.get("histogram"), hist))
        lo, hi = min(h[0] for h in hist), max(h[1] for h in hist)
        if not (lo <= s["size_min"] <= s["size_max"] <= hi):
            fail("%s: site %s: size_min %r size_max %r outside [%d, %d]" % (path, fn, s["size_min"], s["size_max"], lo, hi))
        want = MAPPED if fn == "mapped" else SITES[fn]
        if s.get("live_at_exit") != want["allocations"] - want["frees"]:
            fail("%s: site %s: live_at_exit %r" % (path, fn, s.get("live_at_exit")))
        share = round(want["bytes_live"] / PEAK, 4) if fn != "big_buffers" else round(3 * MIB2 / PEAK, 4)
        if abs(s.get("peak_share", -1) - share) > 0.00011:
            fail("%s: site %s: peak_share %r, expected %.4f" % (path, fn, s.get("peak_share"), share))
    mins = {"hot_small": 16, "grow": 100, "big_buffers": MIB2, "slow_lived": 4096, "mapped": 16384}
    for fn, m in mins.items():
        if sites[fn][0]["size_min"] != m:
            fail("%s: site %s: size_min %r, expected %d" % (path, fn, sites[fn][0]["size_min"], m))
    sl = sites["slow_lived"][0]["lifetime_ms"]
    if not (40 <= sl["mean"] <= 1000 and 40 <= sl["max"] <= 1000 and sl["max"] >= sl["mean"]):
        fail("%s: slow_lived: lifetime_ms %r, expected mean and max >= 40 (blocks held 40 ms)" % (path, sl))
    bb = sites["big_buffers"][0]["lifetime_ms"]
    if not (150 <= bb["mean"] <= 2000):
        fail("%s: big_buffers: lifetime_ms %r, expected mean >= 150 (held 150 ms)" % (path, bb))
    hs = sites["hot_small"][0]["lifetime_ms"]
    if not (hs["mean"] is not None and hs["mean"] < 40):
        fail("%s: hot_small: lifetime_ms %r, expected short (< 40 ms)" % (path, hs))
    if sites["aligned_one"][0]["lifetime_ms"] != {"mean": None, "max": None}:
        fail("%s: aligned_one (never freed): lifetime_ms %r, expected nulls" % (path, sites["aligned_one"][0]["lifetime_ms"]))
    print("profile: %d sites, peak %d, histograms, lifetimes and peak shares as expected: PASS" % (len(doc["sites"]), doc["bytes_peak"]))


def sums(doc):
    keys = ("allocations", "frees", "bytes", "bytes_live")
    t = {k: sum(x[k] for x in doc["tiers"]) for k in keys}
    s = {k: sum(x[k] for x in doc["sites"]) for k in keys}
    return t, s


def cmd_signal(d1, d2, dexit, threads, window, maxsize):
    threads, window, maxsize = int(threads), int(window), int(maxsize)
    docs = [load(p) for p in (d1, d2, dexit)]
    inflight = []
    for p, d, reason in zip((d1, d2, dexit), docs, ("signal", "signal", "exit")):
        if d.get("reason") != reason:
            fail("%s: reason %r, expected %r" % (p, d.get("reason"), reason))
        t, s = sums(d)
        # The tiers are read after the sites: what the threads did meanwhile (the dumping
        # thread may lose the CPU to them for a time slice) is the difference.
        bound = max(2000, t["allocations"] // 10)
        inflight.append(t["allocations"] - s["allocations"])
        for k in ("allocations", "frees"):
            if not (0 <= t[k] - s[k] <= bound):
                fail("%s: %s: tiers %d, sites %d: expected the sites' sum <= the tiers' (read after) by <= %d in flight"
                     % (p, k, t[k], s[k], bound))
        if not (0 <= t["bytes"] - s["bytes"] <= bound * maxsize):
            fail("%s: bytes: tiers %d, sites %d" % (p, t["bytes"], s["bytes"]))
        live_max = threads * window * maxsize
        if not (0 <= t["bytes_live"] <= live_max and 0 <= s["bytes_live"] <= live_max):
            fail("%s: bytes_live: tiers %d, sites %d; the program never holds more than %d" % (p, t["bytes_live"], s["bytes_live"], live_max))
        for x in d["sites"]:
            if not (0 <= x["bytes_live"] <= x["bytes_peak"] <= x["bytes"]):
                fail("%s: site %s: live %d, peak %d, bytes %d" % (p, x["offset"], x["bytes_live"], x["bytes_peak"], x["bytes"]))
        if len(d["timeline"]["t_ms"]) < 2:
            fail("%s: timeline has %d samples" % (p, len(d["timeline"]["t_ms"])))
    t, s = sums(docs[2])
    if t != s:
        fail("%s: at exit (no thread running) the sites' sums %s must equal the tiers' %s" % (dexit, s, t))
    for a, b, pa, pb in ((docs[0], docs[1], d1, d2), (docs[1], docs[2], d2, dexit)):
        ta = {x["name"]: x for x in a["tiers"]}
        for x in b["tiers"]:
            for k in ("allocations", "frees", "bytes", "bytes_peak"):
                if x[k] < ta[x["name"]][k]:
                    fail("tier %s: %s went down from %d (%s) to %d (%s)" % (x["name"], k, ta[x["name"]][k], pa, x[k], pb))
        sa = {(x["module"], x["offset"]): x for x in a["sites"]}
        for x in b["sites"]:
            y = sa.get((x["module"], x["offset"]))
            for k in ("allocations", "frees", "bytes", "bytes_peak"):
                if y and x[k] < y[k]:
                    fail("site %s: %s went down from %d (%s) to %d (%s)" % (x["offset"], k, y[k], pa, x[k], pb))
    n1, n2 = sums(docs[0])[0]["allocations"], sums(docs[1])[0]["allocations"]
    if not n2 > n1 > 0:
        fail("allocations %d then %d: the threads did not run between the dumps" % (n1, n2))
    workers = [x for x in docs[2]["sites"] if x.get("function") == "worker"]
    if len(workers) != 3:
        fail("%s: expected worker's 3 call sites, found %d" % (dexit, len(workers)))
    print("signal: dumps of %d and %d allocations consistent (in flight: %s) and monotonic; exit dump exact (%d): PASS"
          % (n1, n2, inflight[:2], t["allocations"]))


def cmd_python(path):
    doc = load(path)
    if doc.get("kind") != "profile" or "python" not in doc.get("program", ""):
        fail("%s: kind %r program %r, expected a profile of python" % (path, doc.get("kind"), doc.get("program")))
    if doc["bytes_peak"] < 50 << 20:
        fail("%s: bytes_peak %d, expected >= 50 MiB (the script holds 64 MiB of bytearrays)" % (path, doc["bytes_peak"]))
    big = [s for s in doc["sites"] if s["bytes"] >= 64 << 20]
    if not big or big[0]["histogram"][-1][0] > 1 << 20 or big[0]["histogram"][-1][1] < 1 << 20:
        fail("%s: no site allocating the 1 MiB bytearrays (sites: %s)" % (path, doc["sites"][:3]))
    if not any(s["api"] == "mmap" and s["function"] and "Arena" in s["function"] for s in doc["sites"]):
        fail("%s: no mmap site for pymalloc's arenas (_PyObject_ArenaMmap)" % path)
    if not any(0.5 <= s.get("peak_share", 0) <= 1 for s in doc["sites"]):
        fail("%s: no site holds half of the peak" % path)
    print("python: %d sites, peak %d, busiest %s+%s: PASS" % (len(doc["sites"]), doc["bytes_peak"], big[0]["module"], big[0]["offset"]))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"exact": cmd_exact, "halving": cmd_halving, "profile": cmd_profile, "signal": cmd_signal, "python": cmd_python}[cmd](*args)


if __name__ == "__main__":
    main()
