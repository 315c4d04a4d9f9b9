/* Fast x86-64 stack walk from cached DWARF call-frame rules (see fastunwind.c). */
#ifndef MEMTAP_PRELOAD_FASTUNWIND_H
#define MEMTAP_PRELOAD_FASTUNWIND_H

#include <stdint.h>

/* Fills out[0..max) with the return addresses of the calling thread's stack, innermost
 * first, leaving out the leading ones in [skip_lo, skip_hi) (memtap's own frames).
 * Returns how many, or -1 when a frame needs the general unwinder (libunwind). Safe
 * inside malloc: takes no lock of its own and allocates nothing. */
int memtap_fast_unwind(uint64_t *out, int max, uint64_t skip_lo, uint64_t skip_hi);

/* The calling thread ends: releases its last walk. */
void memtap_fast_unwind_thread_exit(void);

#endif
