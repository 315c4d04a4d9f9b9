#!/usr/bin/env python3
"""Writes the C file the cc1 benchmark compiles: 700 structs and functions and a main that
calls them all, 7,004 lines, always the same.  usage: bench/gen_c.py OUT.c"""
import sys

out = ["#include <stdio.h>", "#include <stdlib.h>", "#include <string.h>"]
for i in range(700):
    out += [
        f"struct s{i} {{ int a; double b[{i % 7 + 1}]; char name[{i % 13 + 4}]; struct s{i} *next; }};",
        f"static int f{i}(struct s{i} *p, int n) {{",
        f"  int acc = {i};",
        "  for (int k = 0; k < n; k++) {",
        f"    acc += p->a * k + (int)p->b[k % {i % 7 + 1}];",
        f"    if (acc > {13 * i}) acc ^= k << 2; else acc -= strlen(p->name);",
        "  }",
        "  return acc;",
        "}",
    ]
out.append("int main(void) { int t = 0;")
out += [f"  {{ struct s{i} v = {{0}}; t += f{i}(&v, {i % 50}); }}" for i in range(700)]
out.append('  printf("%d\\n", t); return 0; }')
with open(sys.argv[1], "w") as f:
    f.write("\n".join(out) + "\n")
