/* Fast x86-64 stack walk from cached DWARF call-frame rules (see fastunwind.c). */
#ifndef MEMTAP_PRELOAD_FASTUNWIND_H
#define MEMTAP_PRELOAD_FASTUNWIND_H

#include <stdint.h>

/* Fills out[0..max) with the return addresses of the calling thread's stack, innermost
 * first, leaving out the leading ones in [skip_lo, skip_hi) (memtap's own frames).
 * Returns how many, or -1 when a frame needs the general unwinder (libunwind). Sets
 * *same_outer to how many of the outermost frames are those the thread's previous walk
 * ended with (0: not known). lazy: those *same_outer frames may be left unwritten (the
 * caller has the previous result, or asks memtap_fast_unwind_fill_outer for them). Safe
 * inside malloc: takes no lock of its own and allocates nothing. */
int memtap_fast_unwind(uint64_t *out, int max, uint64_t skip_lo, uint64_t skip_hi,
                       int *same_outer, int lazy);

/* Where the program called into memtap: the registers of the frame that called an
 * interposed function, noted by the hook on entry and cleared on its way out (rsp 0: none).
 * The hooks keep frame pointers (the Makefile builds hooks.c and pymem.c so), so the hook's frame
 * address gives them exactly; a walk then starts there instead of stepping through
 * memtap's own frames. Any hook that does not note them leaves the walk to step. */
typedef struct {
    uint64_t ip, rsp, rbp;
} memtap_entry_regs_t;
extern __thread memtap_entry_regs_t memtap_entry_regs __attribute__((tls_model("initial-exec")));

/* In a hook built with frame pointers: fp is __builtin_frame_address(0). */
static inline void memtap_note_entry(const void *fp) {
    const uint64_t *f = fp;
    memtap_entry_regs.ip = f[1];
    memtap_entry_regs.rbp = f[0];
    memtap_entry_regs.rsp = (uint64_t)(uintptr_t)(f + 2);
}
static inline void memtap_clear_entry(void) { memtap_entry_regs.rsp = 0; }

/* Writes the `count` outermost frames of the thread's last walk, which returned n frames
 * and left them unwritten (lazy; count is its *same_outer), into out[n - count, n). Only
 * before the thread's next walk. */
void memtap_fast_unwind_fill_outer(uint64_t *out, int n, int count);

/* The thread's stack was walked by other means: the next walk compares with nothing. */
void memtap_fast_unwind_forget(void);

/* The calling thread ends: releases its last walk. */
void memtap_fast_unwind_thread_exit(void);

#endif
