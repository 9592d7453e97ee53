#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Reads bench/suite.py's JSON back (the CTest bench.suite_smoke_json).

  suite_smoke_check.py JSON CONFIG[,CONFIG...]

Checks that the document parses, says ok with no failures, holds every workload of the
suite, and that each listed configuration has a positive median time and a peak RSS for
every workload (or is marked broken there with a reason).  One line per problem, exit 1.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402  (the workload list)


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    path, configs = sys.argv[1], sys.argv[2].split(",")
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print(f"{path}: cannot read the suite's JSON: {e}")
        return 1
    bad = []
    if not doc.get("ok") or doc.get("failures"):
        bad.append(f"{path}: ok={doc.get('ok')}, failures: {doc.get('failures')}")
    wls = doc.get("workloads", {})
    for wl in suite.WORKLOADS:
        per = wls.get(wl)
        if per is None:
            bad.append(f"{path}: workload {wl} missing")
            continue
        for c in configs:
            if per.get("verify", {}).get(c, {}).get("broken"):
                continue
            s = per.get("summary", {}).get(c)
            if not s:
                bad.append(f"{path}: {wl}/{c}: no summary")
            elif not (isinstance(s.get("median"), (int, float)) and s["median"] > 0):
                bad.append(f"{path}: {wl}/{c}: median time {s.get('median')!r}, expected a positive number")
            elif not (isinstance(s.get("rss_kib"), (int, float)) and s["rss_kib"] > 0):
                bad.append(f"{path}: {wl}/{c}: peak RSS {s.get('rss_kib')!r}, expected a positive number")
    for b in bad:
        print(b)
    if not bad:
        print(f"{path}: {len(wls)} workloads x {len(configs)} configurations measured")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
