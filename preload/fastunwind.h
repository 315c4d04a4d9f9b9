/* Fast x86-64 stack walk from cached DWARF call-frame rules (see fastunwind.c). */
#ifndef MEMTAP_PRELOAD_FASTUNWIND_H
#define MEMTAP_PRELOAD_FASTUNWIND_H

#include <stdint.h>

/* Fills out[0..max) with the return addresses of the calling thread's stack, innermost
 * first, leaving out the leading ones in [skip_lo, skip_hi) (memtap's own frames).
 * Returns how many, or -1 when a frame needs the general unwinder (libunwind). Sets
 * *same_outer to how many of the outermost frames are those the thread's previous walk
 * ended with (0: not known). Safe inside malloc: takes no lock of its own and allocates
 * nothing. */
int memtap_fast_unwind(uint64_t *out, int max, uint64_t skip_lo, uint64_t skip_hi,
                       int *same_outer);

/* The thread's stack was walked by other means: the next walk compares with nothing. */
void memtap_fast_unwind_forget(void);

/* The calling thread ends: releases its last walk. */
void memtap_fast_unwind_thread_exit(void);

#endif
