"""Call-heavy Python for `make bench`: N calls of a one-line function whose only
allocations are the int objects it returns (values above the small-int cache). Costs a
tracker that hooks every call far more than one that only looks at allocations.
usage: pycalls.py [calls]"""
import sys


def add(i):
    return i + 1000


def main(n):
    total = 0
    for i in range(n):
        total += add(i)
    return total


if __name__ == "__main__":
    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000))
