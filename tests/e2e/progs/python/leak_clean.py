"""A clean script for the leak check: imports, a module-level cache, an lru_cache, a
thread, regular expressions. Nothing of it is a leak."""
import collections
import functools
import json
import re
import threading

CACHE = {}


@functools.lru_cache(maxsize=None)
def double(n):
    return n * 2


for i in range(2000):
    CACHE[i] = str(i) * 3
    double(i)
counts = collections.Counter(CACHE[i][0] for i in CACHE)
t = threading.Thread(target=lambda: json.dumps({"a": [1, 2, 3]}))
t.start()
t.join()
re.compile(r"(\d+)-(\w+)").match("12-ab")
print("clean done")
