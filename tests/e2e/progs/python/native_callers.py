"""Stacks that differ only in a C frame: one call instruction calls memtap_ext.call or
memtap_ext.call_again in turns (two C functions of the test extension), each of which calls
back() from C, which allocates at one line. The Python frames are the same every time
(same code, instruction and place on the frame stack); only the native frames tell the
stacks apart. Each bytearray(n) is an object and a buffer of n + 1 bytes. Counts checked by
test_python.py."""
import sys

import memtap_ext

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 3_000
kept = [None] * ROUNDS  # (no list growth at the allocating line)
done = 0


def back():
    global done
    kept[done] = bytearray(123)  # BACK
    done += 1


callers = (memtap_ext.call, memtap_ext.call_again, memtap_ext.call)
for i in range(ROUNDS):
    callers[i % 3](back)  # TURN
print("native callers done", done)
