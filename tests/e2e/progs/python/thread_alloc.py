"""A Python thread holds COUNT bytearrays of SIZE bytes."""
import threading

COUNT = 7
SIZE = 77_777
held = []


def worker():
    for _ in range(COUNT):
        block = bytearray(SIZE)  # THREAD
        held.append(block)


t = threading.Thread(target=worker)
t.start()
t.join()
