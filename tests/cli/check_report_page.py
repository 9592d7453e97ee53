#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Renders `tiermalloc report --html` in headless Chromium and checks what a person would see:
# the page renders at the window's size, the chart in the rendered DOM has one series per tier
# of the timeline and a legend naming each tier, and the screenshot really shows each tier's
# colour as a line across the chart (pixels read from the PNG with zlib alone).
#   check_report_page.py TIERMALLOC STATS WORKDIR [--keep-screenshot FILE]
# Exit 77 (a skip for ctest) only when no chromium is installed.
import html, json, os, re, shutil, struct, subprocess, sys, zlib

W, H = 1200, 900


def read_png(path):
    """(width, height, rows of (r, g, b) tuples) for an 8-bit RGB or RGBA PNG."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(height):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1: line[x] = (line[x] + a) & 255
            elif f == 2: line[x] = (line[x] + b) & 255
            elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows, bpp


def main():
    cli, stats, work = sys.argv[1:4]
    keep = sys.argv[sys.argv.index("--keep-screenshot") + 1] if "--keep-screenshot" in sys.argv else None
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        print("SKIP: chromium is not installed (apt-get install chromium; scripts/setup.sh does)")
        return 77
    os.makedirs(work, exist_ok=True)
    page, png = os.path.join(work, "report.html"), os.path.join(work, "report.png")
    for f in (page, png):
        if os.path.exists(f): os.remove(f)
    subprocess.run([cli, "report", stats, "--html", page], check=True, stdout=subprocess.DEVNULL)
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--force-color-profile=srgb",
             "--hide-scrollbars", "--window-size=%d,%d" % (W, H)]
    url = "file://" + os.path.abspath(page)
    dom = subprocess.run(flags + ["--dump-dom", url], check=True, capture_output=True, text=True, timeout=120).stdout
    subprocess.run(flags + ["--screenshot=" + png, url], check=True, capture_output=True, timeout=120)

    # Nothing from the file became markup: no script element, whatever the names held.
    # (The DOM is serialized with text escaped: a raw '<' starts a real element.)
    assert not re.search(r"<script|<[^>]*\son\w+=", dom, re.I), "a name became markup"
    tiers = list(json.load(open(stats))["timeline"]["tiers"].keys())
    # The rendered DOM: one series per tier, each with its own colour, and the legend.
    series = {}
    for m in re.finditer(r"<polyline\b([^>]*)>", dom):
        attrs = dict((k, html.unescape(v)) for k, v in re.findall(r'([\w-]+)="([^"]*)"', m.group(1)))
        if attrs.get("class") == "series":
            series[attrs["data-tier"]] = attrs
    assert sorted(series) == sorted(tiers), ("series in the DOM", sorted(series), "tiers", sorted(tiers))
    legend = [html.unescape(t) for t in re.findall(r'<g class="legend-item" data-tier="[^"]*"><line[^>]*></line><text[^>]*>([^<]*)</text>', dom)]
    for t in tiers:
        assert any(l == t or l.startswith(t + " (") for l in legend), ("legend", legend, "lacks", t)
        assert len(series[t]["points"].split()) >= 2, ("series", t, "has no line")
    colours = {t: series[t]["stroke"] for t in tiers}
    assert len(set(colours.values())) == len(tiers), ("colours not distinct", colours)

    # The screenshot: its size, and each tier's exact colour drawn across the chart.
    width, height, rows, bpp = read_png(png)
    assert (width, height) == (W, H), ("screenshot size", width, height)
    want = {tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)): t for t, c in colours.items()}
    unused = (0x94, 0x67, 0xbd) if len(tiers) < 5 else None   # a palette colour no tier has: must be absent
    found = {c: [0, W, -1] for c in want}
    stray = 0
    for y, row in enumerate(rows):
        for x in range(width):
            px = tuple(row[x * bpp:x * bpp + 3])
            if px in found:
                f = found[px]
                f[0] += 1
                f[1] = min(f[1], x)
                f[2] = max(f[2], x)
            elif px == unused:
                stray += 1
    report = {want[c]: {"pixels": f[0], "x_span": f[2] - f[1]} for c, f in found.items()}
    for c, f in found.items():
        # A legend swatch is 22x3 pixels: a series is hundreds of pixels wide.
        assert f[0] >= 300 and f[2] - f[1] >= 400, ("tier", want[c], "colour", colours[want[c]], "not drawn across the chart", report)
    assert stray == 0, ("an unused colour appears", stray)
    if keep:
        shutil.copyfile(png, keep)
    print("ok: %d series %s, legend %s, screenshot %dx%d, pixels %s" % (len(tiers), tiers, legend, width, height, report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
