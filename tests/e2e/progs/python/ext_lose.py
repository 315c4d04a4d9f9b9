"""A real leak in a C extension: memtap_ext.lose(4321) mallocs and drops the pointer."""
import memtap_ext


def lose():
    memtap_ext.lose(4321)  # EXT-LOSE-PY


lose()
