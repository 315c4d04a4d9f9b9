"""A thread started with _thread.start_new_thread (threading is not involved) holds COUNT
bytearrays of SIZE bytes; functions and a method whose names are not ASCII hold more."""
import _thread

COUNT = 5
SIZE = 55_555
held = []
done = _thread.allocate_lock()
done.acquire()


def worker():
    for _ in range(COUNT):
        block = bytearray(SIZE)  # RAW-THREAD
        held.append(block)
    done.release()


def grüße():
    block = bytearray(33_333)  # LATIN
    held.append(block)


class Ünïcode:
    def 日本(self):
        block = bytearray(44_444)  # CJK
        held.append(block)


_thread.start_new_thread(worker, ())
done.acquire()
grüße()
Ünïcode().日本()
print("raw thread done")
