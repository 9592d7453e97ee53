# SPDX-License-Identifier: MIT
# The demo's workload: an ordinary Python program with a mix of small objects (dicts,
# strings, lists) and big buffers (bytearrays, a large list's array), printing a digest.
import hashlib

h = hashlib.sha256()
index = {f"key-{i}": i * i for i in range(100_000)}          # many small allocations
words = [str(i) * 4 for i in range(200_000)]
buffers = [bytearray((i % 251,)) * (4 << 20) for i in range(24)]  # 24 x 4 MiB
big = list(range(1_000_000))                                  # one 8 MB pointer array
for b in buffers:
    h.update(b[:4096])
h.update(str(sum(index.values()) + len(words) + sum(big)).encode())
print("digest", h.hexdigest()[:16], "buffers", len(buffers), "MiB", sum(len(b) for b in buffers) >> 20)
