"""A real leak through ctypes: libc's malloc(54321), the address dropped."""
import ctypes

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]


def lose():
    libc.malloc(54321)  # CTYPES-LOSE


lose()
