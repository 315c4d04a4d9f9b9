"""Calls the test extension: a leak straight from Python, and one from a Python callback
that C called."""
import memtap_ext


def callback():
    memtap_ext.leak(8888)  # EXT-CB


def use_ext():
    memtap_ext.leak(7777)  # EXT-DIRECT
    memtap_ext.call(callback)  # EXT-VIA-C


use_ext()
