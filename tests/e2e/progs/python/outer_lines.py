"""Stacks that differ only in an outer frame: leaf() allocates at one line, called from
two lines of one function and from another function, in turns, so that the innermost
frame is the same every time (same code, same instruction, same place on the frame
stack) and only the callers tell the stacks apart. Each bytearray(n) is an object and a
buffer of n + 1 bytes. Counts checked by test_python.py."""
import sys

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000
kept = []


def leaf(n):
    return bytearray(n)  # LEAF


def caller(flip):
    if flip:
        kept.append(leaf(100))  # FIRST
    else:
        kept.append(leaf(200))  # SECOND


def other():
    kept.append(leaf(300))  # OTHER


for i in range(ROUNDS):
    caller(i % 2 == 0)  # TURN1
    caller(i % 2 == 1)  # TURN2
    other()  # TURN3
print("outer lines done", len(kept))
