"""Holds COUNT bytearrays of SIZE bytes until the end of the main module; frees a second
batch at once. Figures checked by tests/e2e/test_python.py."""
import sys

COUNT = 50
SIZE = 123_457
HALF = SIZE // 2


def fill(held):
    for _ in range(COUNT):
        block = bytearray(SIZE)  # HOLD
        held.append(block)


def churn():
    for _ in range(COUNT):
        scratch = bytearray(HALF)  # TEMP
        scratch[0] = 1


held = []
fill(held)
churn()
print("hold done", len(held))
