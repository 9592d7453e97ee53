# SPDX-License-Identifier: MIT
# The statistics of tests/integration/sites: each call-site tier counted exactly the
# allocations the program made from its sites.
import json
import sys

want = {"mainfn": 1, "staticfn": 1, "solver": 1, "alpha": 1, "beta": 1, "deep": 2, "linked": 3, "dl": 3}
tiers = {t["name"]: t for t in json.load(open(sys.argv[1]))["tiers"]}
bad = [f"{n}: {tiers.get(n, {}).get('allocations')} allocations, expected {k}" for n, k in want.items()
       if tiers.get(n, {}).get("allocations") != k]
for n, k in want.items():
    print(f"{n:9} {tiers.get(n, {}).get('allocations')} allocations (expected {k})")
print("\n".join("MISMATCH " + b for b in bad) or "STATS-OK")
sys.exit(1 if bad else 0)
