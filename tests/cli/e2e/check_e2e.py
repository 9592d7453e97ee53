#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# record -> suggest -> run -> report on tests/cli/e2e/workload.c: the suggested policy, run on
# the same program, places each call site where suggest said, and the statistics count them to
# the byte.
#   check_e2e.py TIERMALLOC WORKLOAD WORKDIR
import json, os, re, shutil, subprocess, sys

cli, prog, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(os.path.join(work, "scratch"))
prof, pol, stats = (os.path.join(work, f) for f in ("prof.json", "policy.yaml", "stats.json"))


def run(*args):
    r = subprocess.run([cli] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("tiermalloc %s: status %d\n%s%s" % (args[0], r.returncode, r.stdout, r.stderr))
    return r.stdout


run("record", "-o", prof, "--", prog)
run("suggest", prof, "--budget", "fast=2MiB", "--scratch-path", os.path.join(work, "scratch"), "-o", pol)
print(run("check", pol).splitlines()[0].replace(work + "/", ""))
text = open(pol).read()
rules = dict(re.findall(r"  - name: (\S+)\n    match: .*\n    tier: (\S+)", text))
want = {"hot_small": ("fast", "fast-hot_small"), "model_weights": ("capacity", "capacity-model_weights"),
        "temp_buffers": ("scratch", "scratch-temp_buffers"), "cold_small": ("dram", None)}
for fn, (tier, rule) in want.items():
    if rule:
        assert rules.get(rule) == tier, ("suggest did not write", rule, "->", tier, rules)
assert not any("cold_small" in r for r in rules), ("a rule for the cold site", rules)

run("run", "-p", pol, "--stats", stats, "--", prog)
s = json.load(open(stats))
sites = {x["function"]: x for x in s["sites"] if x["function"] in want}
hot_bytes = 20 * sum(64 + (r * 1024 + i) * 37 % 937 for r in range(10) for i in range(1024))  # 20 calls of 10 rounds
exact = {"hot_small": (204800, hot_bytes), "model_weights": (6, 6 * (8 << 20)), "temp_buffers": (200, 200 * (4 << 20)),
         "cold_small": (100, 100 * 200)}
for fn, (tier, rule) in want.items():
    x = sites.get(fn)
    assert x, ("no statistics for", fn, [y["function"] for y in s["sites"]])
    assert (x["tier"], x["rule"]) == (tier, rule), (fn, "placed on", x["tier"], x["rule"], "expected", tier, rule)
    assert (x["allocations"], x["bytes"]) == exact[fn], (fn, x["allocations"], x["bytes"], "expected", exact[fn])
tiers = {t["name"]: t for t in s["tiers"]}
assert tiers["scratch"]["allocations"] == 200 and tiers["capacity"]["allocations"] == 6, tiers
assert tiers["fast"]["allocations"] == 204800, tiers["fast"]
out = run("report", stats, "--html", os.path.join(work, "report.html"))
for fn, (tier, rule) in want.items():
    assert re.search(r"\b%s\b[^\n]*\b%s\b" % (fn, tier), out), ("report lacks", fn, tier, out)
print("ok: " + ", ".join("%s -> %s" % (fn, t) for fn, (t, _) in want.items()))
