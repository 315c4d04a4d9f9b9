#!/usr/bin/env python3
"""Lists C functions longer than a limit (default 100 lines): a function starts at a line
in column 0 whose definition opens a brace, and ends at the next '}' in column 0.
usage: tools/fnlen.py [--max N] FILE..."""
import re
import sys

args = sys.argv[1:]
limit = 100
if args[:1] == ["--max"]:
    limit, args = int(args[1]), args[2:]
bad = 0
for path in args:
    lines = open(path, errors="replace").read().split("\n")
    start = None
    for i, line in enumerate(lines):
        if start is None and re.match(r"^[A-Za-z_].*\)\s*(\{\s*)?$", line) and not line.startswith(("typedef", "#")):
            if line.rstrip().endswith("{") or (i + 1 < len(lines) and lines[i + 1].startswith("{")):
                start, name = i, re.sub(r"\(.*", "", line).split()[-1].lstrip("*")
        elif start is not None and line.startswith("}"):
            n = i - start + 1
            if n > limit:
                print(f"{path}:{start + 1}: {name} {n} lines")
                bad += 1
            start = None
sys.exit(1 if bad else 0)
