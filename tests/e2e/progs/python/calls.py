"""N calls (200,000 unless given) of a function that allocates nothing, all from one line:
a tracker that makes the interpreter create a frame object for each call (a profile
function does) shows N allocations there. Then one block of a known size, in main()."""
import itertools
import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000


def nothing(x):
    return x


def main():
    x = None
    for _ in itertools.repeat(None, N):  # no int objects: the loop allocates nothing
        nothing(x)  # CALL
    return bytearray(77_777)  # MARKER


kept = main()
print("calls done")
