"""A Python service that caches every rendered page forever, and a C call that leaks.

    build/memtap run -o cache.memtap -- python3 examples/cache.py
    build/memtap leaks --before-teardown --python-only cache.memtap
"""
import ctypes

_cache = {}
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]


def render(page):
    body = f"<h1>page {page}</h1>" + "<p>lorem ipsum</p>" * 200
    return body.encode()


def handle(page):
    if page not in _cache:
        _cache[page] = render(page)  # every page stays cached: the memory hog
    return _cache[page]


def native_buffer(size):
    return libc.malloc(size)  # never freed: a real leak


for request in range(2000):
    handle(request % 500)
buffer = native_buffer(1 << 20)
print("served 2000 requests,", len(_cache), "pages cached")
