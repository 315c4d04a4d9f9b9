/* Native stack capture with libunwind, without memtap's own frames. */
#ifndef MEMTAP_PRELOAD_UNWIND_H
#define MEMTAP_PRELOAD_UNWIND_H

#include <stdint.h>

/* Sets libunwind's per-thread caching and learns memtap's own address range. Call once,
 * from the constructor, with the reentrancy guard set. */
void memtap_unwind_init(void);

/* Frames of memtap's own (hook, tracker) that may sit above the user's call. */
#define MEMTAP_OWN_FRAMES_MAX 8

/* Fills out[0..max) with return addresses, innermost first, starting at the first frame
 * outside libmemtap.so. out must have room for max + MEMTAP_OWN_FRAMES_MAX entries.
 * Returns the number of frames (0..max). *same_outer: how many of the outermost frames
 * equal those the thread's previous call returned last (0: not known); with lazy, those
 * may be left unwritten: the caller takes them from the thread's stack cache
 * (MEMTAP_LAZY_CACHE) or from memtap_fast_unwind_fill_outer (MEMTAP_LAZY_KEPT). Safe inside
 * malloc. */
enum { MEMTAP_LAZY_CACHE = 1, MEMTAP_LAZY_KEPT = 2 };
int memtap_unwind(uint64_t *out, int max, int *same_outer, int lazy);

#endif
