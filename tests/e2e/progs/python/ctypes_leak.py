"""Leaks one malloc(54321) made through ctypes."""
import ctypes

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
kept = []


def leak_from_ctypes():
    kept.append(libc.malloc(54321))  # CTYPES


leak_from_ctypes()
