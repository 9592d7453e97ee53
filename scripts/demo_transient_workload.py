# SPDX-License-Identifier: MIT
# The transient-tier demo's workload (scripts/demo_transient.sh): an ordinary Python program
# whose large temporaries -- BLOCKS bytearrays of MIB MiB each, all live at the peak --
# total more than the machine's RAM.  Each is zero-filled, gets one stamp byte per 4 KiB
# page, and is then read back whole through memoryviews and bytearray.count.  Prints one
# "result" line that does not depend on where the memory came from.
#
#   python3 demo_transient_workload.py [BLOCKS [MIB]]          (default 12 x 256 MiB = 3 GiB)
#   python3 demo_transient_workload.py --measure -- CMD...      run CMD, then print its peak
#       RSS (ru_maxrss from wait4, also when it was killed), wall time, the machine's lowest
#       MemAvailable meanwhile (sampled every 0.2 s) and how it ended; exits with its status
#       (128 + signal when killed)
import os
import sys
import time

PAGE = 4096
BASE = bytes(range(1, 256))  # stamp values 1..255: never zero


def status_kib(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def measure(cmd):
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    low = None
    while True:  # wait, sampling the machine's MemAvailable (no process started for it)
        done, status, ru = os.wait4(pid, os.WNOHANG)
        if done == pid:
            break
        with open("/proc/meminfo") as fh:
            avail = next(int(line.split()[1]) for line in fh if line.startswith("MemAvailable:"))
        low = avail if low is None else min(low, avail)
        time.sleep(0.2)
    wall = time.monotonic() - start
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        how, rc = f"killed by signal {sig}" + (" (SIGKILL: the OOM killer?)" if sig == 9 else ""), 128 + sig
    else:
        rc = os.WEXITSTATUS(status)
        how = f"exit status {rc}"
    print(f"measure: {how}; peak RSS {ru.ru_maxrss // 1024} MiB; wall {wall:.1f} s; "
          f"lowest MemAvailable {(low or 0) // 1024} MiB", flush=True)
    return rc


def expected_stamp_sum(i, npages):
    off = (i * 31) % 255
    full, rest = divmod(npages, 255)
    return full * (255 * 256 // 2) + sum(((off + k) % 255) + 1 for k in range(rest))


def main(nblocks, mib):
    size = mib << 20
    npages = size // PAGE
    t0 = time.monotonic()
    blocks = []
    for i in range(nblocks):
        b = bytearray(size)  # a zeroed temporary
        off = (i * 31) % 255
        b[::PAGE] = (BASE * (npages // 255 + 2))[off:off + npages]  # one stamp per page
        blocks.append(b)
        print(f"block {i + 1:2d}/{nblocks}: {(i + 1) * mib:5d} MiB live, VmRSS {status_kib('VmRSS') // 1024} MiB",
              flush=True)
    total = 0
    for i, b in enumerate(blocks):
        stamps = sum(memoryview(b)[::PAGE])  # every page read through a memoryview
        zeros = b.count(0)                   # and every byte
        if stamps != expected_stamp_sum(i, npages) or zeros != size - npages:
            print(f"WRONG: block {i}: stamp sum {stamps}, zero bytes {zeros}", flush=True)
            return 1
        total += stamps
    del blocks
    print(f"peak: VmHWM {status_kib('VmHWM') // 1024} MiB, RssFile now {status_kib('RssFile') // 1024} MiB "
          f"({time.monotonic() - t0:.1f} s)", flush=True)
    print(f"result: {nblocks} blocks x {mib} MiB = {nblocks * mib} MiB, stamp sum {total}", flush=True)
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "--measure":
        sys.exit(measure(args[2:] if args[1:2] == ["--"] else args[1:]))
    sys.exit(main(int(args[0]) if args else 12, int(args[1]) if len(args) > 1 else 256))
