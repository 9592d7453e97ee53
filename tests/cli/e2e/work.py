# SPDX-License-Identifier: MIT
# The README's record -> suggest -> run -> report session runs this (tests/cli: cli_readme_session).
# A small "model": weights loaded once and kept (anonymous mappings), big temporaries made
# and dropped at every step, a hot dictionary of small strings.
import mmap, time
weights = []
for _ in range(4):
    w = mmap.mmap(-1, 16 << 20, flags=mmap.MAP_PRIVATE)                      # long-lived, large
    w.write(b"w" * (16 << 20))
    weights.append(w)
    time.sleep(0.05)
cache = {}
for step in range(40):
    tmp = bytearray(32 << 20)                         # a large temporary
    tmp[::4096] = b"x" * len(tmp[::4096])
    for i in range(20000):
        cache[(step * 7 + i) % 5000] = "v%d" % (i * step)   # hot, small
    time.sleep(0.02)
    del tmp
print(len(cache), sum(len(w) for w in weights) >> 20)
