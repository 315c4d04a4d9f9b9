/* The unwind gate: fork must not happen while a thread is inside libunwind, which has locks
 * of its own and no fork handlers (a child forked meanwhile would wait on them forever).
 * Unwinding threads announce themselves in a per-thread slot, so the common path writes
 * only to its own cache line; fork closes the gate and waits until no slot is busy. */
#ifndef MEMTAP_PRELOAD_GATE_H
#define MEMTAP_PRELOAD_GATE_H

/* Around each unwind. enter may wait while a fork is in progress. Safe inside malloc. */
void memtap_gate_enter(void);
void memtap_gate_leave(void);

/* fork's prepare handler: closes the gate and waits for every unwinding thread to leave.
 * open (parent) and reset (child) undo it. */
void memtap_gate_close(void);
void memtap_gate_open(void);
void memtap_gate_reset(void);

/* The calling thread ends: its slot is free again. */
void memtap_gate_thread_exit(void);

#endif
