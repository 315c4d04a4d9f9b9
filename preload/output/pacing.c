/* Time markers, periodic flushes and idle flushes (see pacing.h). */
#include "output/pacing.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "base/lock.h"
#include "base/procfs.h"
#include "output/record.h"
#include "output/stream.h"
#include "core/lifecycle.h"

#define IDLE_FLUSH_GAP_NS (10 * 1000000ull)

uint64_t memtap_pace_last_marker, memtap_pace_last_flush;
int memtap_pace_dirty;
static uint64_t last_idle_flush; /* 0: the next idle point flushes */
static uint64_t start_ns;

memtap_gettime_fn memtap_pace_gettime = clock_gettime;

static uint64_t now_ns(clockid_t clock) {
    struct timespec ts;
    memtap_pace_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t memtap_pace_coarse_now(void) { return now_ns(CLOCK_MONOTONIC_COARSE); }
uint64_t memtap_pace_realtime_ns(void) { return now_ns(CLOCK_REALTIME); }
uint64_t memtap_pace_elapsed_ms(void) { return (now_ns(CLOCK_MONOTONIC) - start_ns) / 1000000u; }

void memtap_pace_start(void) {
    start_ns = now_ns(CLOCK_MONOTONIC);
    memtap_pace_last_flush = memtap_pace_last_marker = memtap_pace_coarse_now();
    last_idle_flush = 0; /* the first idle point flushes */
    memtap_pace_dirty = 1;
}

static void flush_now(uint64_t now) {
    __atomic_store_n(&memtap_pace_last_flush, now, __ATOMIC_RELAXED);
    __atomic_store_n(&memtap_pace_dirty, 0, __ATOMIC_RELAXED);
    memtap_stream_flush(1);
}

void memtap_pace_after_record(void) {
    if (!__atomic_load_n(&memtap_pace_dirty, __ATOMIC_RELAXED)) /* no store when set */
        __atomic_store_n(&memtap_pace_dirty, 1, __ATOMIC_RELAXED);
    uint64_t now = memtap_pace_coarse_now();
    if (now - memtap_pace_last_marker >= MEMTAP_TIME_EVERY_NS) {
        __atomic_store_n(&memtap_pace_last_marker, now, __ATOMIC_RELAXED);
        if (memtap_stream_reserve(MEMTAP_ENC_FIXED_MAX) == 0)
            memtap_enc_time(&memtap_stream, memtap_pace_elapsed_ms(), memtap_rss_bytes());
    }
    if (now - memtap_pace_last_flush >= MEMTAP_FLUSH_EVERY_NS && memtap_tracking())
        flush_now(now);
}

__attribute__((noinline, cold)) void memtap_pace_due(void) {
    memtap_lock(&memtap_stream_lock);
    if (memtap_tracking())
        memtap_pace_after_record();
    memtap_stream_unlock();
}

void memtap_idle(void) {
    /* cheap checks first (racy reads: the decision is redone under the lock) */
    if (!__atomic_load_n(&memtap_pace_dirty, __ATOMIC_RELAXED))
        return;
    uint64_t before = __atomic_load_n(&last_idle_flush, __ATOMIC_RELAXED);
    if (before && memtap_pace_coarse_now() - before < IDLE_FLUSH_GAP_NS)
        return; /* a busy event loop: at most one idle flush per 10 ms */
    if (getpid() != memtap_capture_pid) /* a vfork child */
        return;
    int saved = errno;
    memtap_guard++;
    if (memtap_trylock(&memtap_stream_lock) == 0) { /* busy: someone else is active */
        uint64_t now = memtap_pace_coarse_now();
        if (memtap_tracking() && memtap_pace_dirty) {
            __atomic_store_n(&last_idle_flush, now, __ATOMIC_RELAXED);
            flush_now(now);
        }
        memtap_stream_unlock();
    }
    memtap_guard--;
    errno = saved;
}
