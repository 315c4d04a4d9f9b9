/* When the capture gets time markers and when its data goes to the file (pacing.c). There
 * is no thread of our own: a helper thread makes the process multi-threaded, which breaks
 * unshare(CLONE_NEWUSER) and makes Python warn at every fork. Instead, the thread that
 * records an event writes a time marker every 100 ms and pushes the data to the file every
 * 500 ms, and blocking calls (idle.c) push pending data before the program waits. */
#ifndef MEMTAP_PRELOAD_PACING_H
#define MEMTAP_PRELOAD_PACING_H

#include <stdint.h>
#include <time.h>

#define MEMTAP_TIME_EVERY_NS (100 * 1000000ull)
#define MEMTAP_FLUSH_EVERY_NS (500 * 1000000ull)

/* coarse ns of the last time marker and of the last flush; written with the record lock */
extern uint64_t memtap_pace_last_marker, memtap_pace_last_flush;
/* records appended since the last flush */
extern int memtap_pace_dirty;

/* Test seam: every clock read here goes through it (clock_gettime; only tests change it).
 * Calling through it costs what calling clock_gettime through the PLT did. */
typedef int (*memtap_gettime_fn)(clockid_t clock, struct timespec *ts);
extern memtap_gettime_fn memtap_pace_gettime;

/* CLOCK_MONOTONIC_COARSE, in ns: cheap enough for every record. */
uint64_t memtap_pace_coarse_now(void);

/* The wall clock (the header's start time), in ns since the epoch. */
uint64_t memtap_pace_realtime_ns(void);

/* An image starts in this process: the clocks start over, the first idle point
 * flushes. */
void memtap_pace_start(void);

/* Milliseconds since the image started. */
uint64_t memtap_pace_elapsed_ms(void);

/* After appending a record to the stream: a time marker and a flush when due. Record lock
 * held. */
void memtap_pace_after_record(void);

/* The program is about to block (sleep, poll, wait, read...): pushes pending records to
 * the file unless that was done in the last 10 ms. Cheap when there is nothing pending.
 * Keeps errno; does nothing in another process (vfork child) or when the record lock is
 * busy. Called by hooks/idle.c outside the guard. */
void memtap_idle(void);

/* memtap_pace_note_record's slow path: takes the record lock. */
void memtap_pace_due(void);

/* After a record in a thread's buffer (no lock held): time markers and periodic flushes
 * when due. Inline in the hooks' path: the clock read and two compares. */
static inline __attribute__((always_inline)) void memtap_pace_note_record(void) {
    if (!__atomic_load_n(&memtap_pace_dirty, __ATOMIC_RELAXED)) /* no store when set: */
        __atomic_store_n(&memtap_pace_dirty, 1, __ATOMIC_RELAXED); /* other cores read it */
    uint64_t now = memtap_pace_coarse_now();
    if (__builtin_expect(
            now - __atomic_load_n(&memtap_pace_last_marker, __ATOMIC_RELAXED) >=
                    MEMTAP_TIME_EVERY_NS ||
                now - __atomic_load_n(&memtap_pace_last_flush, __ATOMIC_RELAXED) >=
                    MEMTAP_FLUSH_EVERY_NS,
            0))
        memtap_pace_due();
}

#endif
