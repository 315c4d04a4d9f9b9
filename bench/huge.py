#!/usr/bin/env python3
"""make bench-huge: a synthetic capture of EVENTS events (default 1 G: 500 M allocations and
500 M frees over 65,536 live blocks and 10,000 stacks), written with the library's encoder,
then read by `memtap summary`: time, peak memory, and whether the machine swapped.

usage: bench/huge.py BUILD_DIR   (env: EVENTS=1000000000, DIR=where the capture goes)
"""
import os
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
EVENTS = int(os.environ.get("EVENTS", "1000000000"))


def swapped():
    with open("/proc/vmstat") as f:
        v = dict(line.split() for line in f)
    return int(v.get("pswpin", 0)) + int(v.get("pswpout", 0))


def main():
    d = tempfile.mkdtemp(prefix="memtap-huge-", dir=os.environ.get("DIR"))
    path = os.path.join(d, "huge.memtap")
    try:
        t = time.monotonic()
        subprocess.run([os.path.join(BUILD, "bench", "huge"), path, str(EVENTS)], check=True)
        print(f"bench: wrote {EVENTS:,} events: {os.path.getsize(path) / 2**30:.2f} GiB in "
              f"{time.monotonic() - t:.0f} s")
        t = time.monotonic()
        subprocess.run(["sh", "-c", f"lz4 -dc '{path}' > /dev/null"], check=True)
        lz4 = time.monotonic() - t
        before = swapped()
        t = time.monotonic()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", os.path.join(BUILD, "memtap"), "summary",
                            path], capture_output=True, text=True)
        took = time.monotonic() - t
        if p.returncode != 0:
            raise SystemExit(f"bench: memtap summary failed: {p.stderr.strip()}")
        rss_kib = int(p.stderr.strip().splitlines()[-1])
        pages = swapped() - before
        print(p.stdout.split("\n\n")[0])
        print(f"\nbench: memtap summary read {EVENTS:,} events in {took:.0f} s "
              f"({took / lz4:.1f}x lz4 -dc's {lz4:.0f} s), peak RSS {rss_kib / 1024:.0f} MiB, "
              f"{pages} pages swapped meanwhile")
    finally:
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)


if __name__ == "__main__":
    main()
