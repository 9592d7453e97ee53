#!/bin/sh
# SPDX-License-Identifier: MIT
# The README's record -> suggest -> run -> report session on python3, command for command, in a
# scratch directory; then: the policy passes check, and under it every rule suggest wrote took
# allocations, on the tier it names.
#   readme_session.sh TIERMALLOC WORKDIR SCRIPT
set -e
tiermalloc=$1 work=$2 script=$3
rm -rf "$work" && mkdir -p "$work" && cd "$work"
"$tiermalloc" record -o prof.json -- python3 "$script"
"$tiermalloc" suggest prof.json -o policy.yaml
"$tiermalloc" check policy.yaml > check.txt
"$tiermalloc" run -p policy.yaml --stats stats.json -- python3 "$script"
"$tiermalloc" report stats.json --html report.html > report.txt
python3 - <<'PY'
import json, re
pol = open("policy.yaml").read()
rules = re.findall(r"  - name: (\S+)\n    match: ([^\n]*)\n    tier: (\S+)", pol)
assert rules, "no rule written:\n" + pol
s = json.load(open("stats.json"))
got = {r["name"]: r for r in s["rules"]}
tiers = {t["name"]: t for t in s["tiers"]}
for name, match, tier in rules:
    r = got[name]
    assert r["tier"] == tier, (name, tier, r)
    if "api: [mmap]" in match:   # placed mappings are counted per tier (mmap_count), not per rule
        assert tiers[tier]["mmap_count"] > 0, (name, tiers[tier])
    else:
        assert r["matches"] > 0 and r["bytes"] > 0, (name, tier, r)
    # (a site's tier and rule in the statistics are its latest allocation's)
    assert all(x["tier"] == tier for x in s["sites"] if x["rule"] == name), (name, s["sites"])
assert "report.html" in open("report.txt").read()
print("readme session ok: " + ", ".join("%s -> %s" % (n, t) for n, _, t in rules))
PY
