/* Asymmetric fences: a thread entering a record needs its "busy" store ordered before the
 * loads that follow (the order counter, the closing flag), which a full barrier (an xchg,
 * about 20 cycles) gives on every allocation. The rare other side (a flush reading other
 * threads' busy flags, the end of an image waiting for them) can instead make every thread
 * of the process pass a full barrier at once with membarrier(2)'s private expedited
 * command; the record side then needs only a compiler barrier. Where the kernel has no
 * such command, the record side keeps its full barrier. */
#ifndef MEMTAP_PRELOAD_FENCE_H
#define MEMTAP_PRELOAD_FENCE_H

/* 1 once membarrier is registered for this process: the fast side may use a compiler
 * barrier. Set at init and in a fork child (one thread: no record under way). */
extern int memtap_fence_asymmetric;

/* Registers the process for membarrier's private expedited command; sets
 * memtap_fence_asymmetric to whether that worked. */
void memtap_fence_init(void);

/* The fast side: *flag = 1, then a barrier against the slow side's memtap_fence_others. */
static inline void memtap_fence_set_flag(int *flag) {
    if (__builtin_expect(memtap_fence_asymmetric, 1)) {
        __atomic_store_n(flag, 1, __ATOMIC_RELAXED);
        __atomic_signal_fence(__ATOMIC_SEQ_CST); /* the compiler keeps the order */
    } else {
        __atomic_exchange_n(flag, 1, __ATOMIC_SEQ_CST);
    }
}

/* The slow side: every thread of the process has passed a full barrier when this returns
 * 0 (stores made before then, flags set included, are visible). -1 when it could not be
 * done: the caller must then assume any fast-side flag may be set. */
int memtap_fence_others(void);

#endif
