# SPDX-License-Identifier: MIT
# tests/real/alloc_heavy.py -- an allocation-heavy, fully deterministic Python workload.
# Prints one digest line per phase; run with and without libtiermalloc, output must match.
# Blocks of several MiB (>= 1 MiB goes to the second tier under the test policy) are
# written, grown with realloc across the 1 MiB boundary, shrunk, copied and freed, among
# millions of small objects.
import hashlib
import json
import random
import sys
import zlib


def h(data):
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()[:24]


def out(label, value):
    print(f"{label:28s} {value}")


rng = random.Random(20240521)

# 1. big lists of ints and floats, sorted several ways
ints = [rng.randrange(1 << 40) for _ in range(150_000)]
out("ints.sum", sum(ints))
ints.sort()
out("ints.sorted", h(",".join(map(str, ints[::997]))))
floats = [rng.random() * 1e6 for _ in range(150_000)]
floats.sort(reverse=True)
out("floats.sorted", h(repr(floats[::511])))

# 2. strings: many small, a few huge joins (several MiB), splitting back
words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 12)))
         for _ in range(100_000)]
text = " ".join(words)                       # ~0.8 MiB
out("text.len", len(text))
big = (text + "\n") * 12                     # ~10 MiB
out("big.digest", h(big))
out("big.upper", h(big.upper()[::7]))
out("split.count", len(big.split()))
words.sort(key=lambda w: (len(w), w))
out("words.sorted", h("|".join(words[::101])))

# 3. dicts and sets (PYTHONHASHSEED is fixed by the caller, sorted anyway)
d = {}
for i, w in enumerate(words):
    d.setdefault(w, []).append(i)
out("dict.len", len(d))
out("dict.multi", sum(1 for v in d.values() if len(v) > 1))
inv = {i: w for w, v in d.items() for i in v}
out("inv.digest", h("".join(inv[i] for i in range(0, len(inv), 37))))
s = set(ints[::3]) ^ set(ints[::5])
out("set.len", len(s))
out("set.digest", h(",".join(map(str, sorted(s)[::1009]))))

# 4. bytearrays of several MiB: filled, grown in place (realloc across 1 MiB), shrunk
blocks = []
for k in range(6):
    n = (k + 2) << 20                        # 2..7 MiB
    b = bytearray(n)
    b[::4096] = bytes((k * 31 + j) & 0xFF for j in range(len(range(0, n, 4096))))
    b[n // 2:n // 2 + 11] = b"hello world"
    blocks.append(b)
out("blocks", h(b"".join(hashlib.sha256(b).digest() for b in blocks)))
grow = bytearray()
chunk = bytes(range(256)) * 64              # 16 KiB
for i in range(1600):                        # 16 KiB .. 25 MiB by appends (realloc)
    grow += chunk
    grow[-1] = i & 0xFF
out("grow.digest", h(grow))
del grow[3 << 20:]                           # shrink to 3 MiB
out("shrunk.digest", h(grow))
del grow[512 << 10:]                         # below the 1 MiB rule
grow.extend(b"x" * (5 << 20))                # and back above it
out("regrow.digest", h(grow))
mv = memoryview(blocks[3])[1 << 20: 3 << 20]
out("memoryview", h(bytes(mv)))
del mv, blocks

# 5. JSON round trip of a large structure (~10 MiB of text)
doc = {"records": [{"id": i, "name": words[i % len(words)], "vals": ints[i:i + 5],
                    "f": floats[i % len(floats)], "tags": {"a": i % 7, "b": str(i % 13)}}
                   for i in range(0, 60_000)]}
js = json.dumps(doc, sort_keys=True)
out("json.len", len(js))
out("json.digest", h(js))
back = json.loads(js)
out("json.roundtrip", back == doc)
js2 = json.dumps(back, sort_keys=True, indent=1)
out("json.indent", h(js2))
del doc, back, js2

# 6. compression of the big buffers
z = zlib.compress(js.encode(), 6)
out("zlib.len", len(z))
out("zlib.back", zlib.decompress(z) == js.encode())

# 7. sorting tuples and records with a key
recs = [(rng.randrange(1000), rng.random(), words[rng.randrange(len(words))]) for _ in range(120_000)]
recs.sort()
out("tuples.sorted", h(repr(recs[::499])))
recs.sort(key=lambda r: (r[2], -r[0]))
out("tuples.bykey", h(repr(recs[::499])))

# 8. many short-lived objects of all sizes, interleaved with big ones
acc = hashlib.sha256()
keep = []
for i in range(4000):
    size = rng.choice((16, 200, 3000, 70_000, 900_000, 1 << 20, 3 << 20)) if i % 50 == 0 else rng.randrange(1, 4096)
    obj = bytes([i & 0xFF]) * size
    acc.update(obj[:64] + obj[-64:] + size.to_bytes(8, "little"))
    if i % 7 == 0:
        keep.append(obj)
    if len(keep) > 40:
        keep.pop(rng.randrange(len(keep)))
out("churn.digest", acc.hexdigest()[:24])
out("churn.kept", sum(map(len, keep)))
print("done", file=sys.stderr)
