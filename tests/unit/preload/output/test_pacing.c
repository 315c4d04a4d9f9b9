/* Pacing with a clock the test moves: a time marker every 100 ms of records, a flush every
 * 500 ms, an idle point flushing what is pending at most once per 10 ms, and never in
 * another process or while the record lock is busy. */
#include "support/live_capture.h"

#include <errno.h>
#include <sys/stat.h>

#include "base/procfs.h"
#include "memtap/format.h"
#include "output/pacing.h"

#define MS 1000000ull

static uint64_t clock_ns; /* every clock reads it: monotonic, coarse or not, and the wall */

static int fake_gettime(clockid_t clock, struct timespec *ts) {
    uint64_t t = clock == CLOCK_REALTIME ? clock_ns + 1700000000ull * 1000000000ull : clock_ns;
    ts->tv_sec = (time_t)(t / 1000000000u);
    ts->tv_nsec = (long)(t % 1000000000u);
    return 0;
}

static char path[64];

static void setup(void) {
    memtap_pace_gettime = fake_gettime;
    clock_ns = 5000 * MS;
    live_begin(path, 0); /* starts the pace: the image's clocks read 5 s */
}
static void teardown(void) { unlink(path); }
TestSuite(pacing, .init = setup, .fini = teardown);

static off_t file_size(void) {
    struct stat st;
    stat(path, &st);
    return st.st_size;
}

static void after_record_at(uint64_t ms) {
    clock_ns = 5000 * MS + ms * MS;
    memtap_lock(&memtap_stream_lock);
    memtap_pace_after_record();
    memtap_unlock(&memtap_stream_lock);
}

/* A record of source 0 (so a flush has something to write), then the pacing after it. */
static void record_at(uint64_t ms) {
    clock_ns = 5000 * MS + ms * MS;
    memtap_lock(&memtap_stream_lock);
    cr_assert_eq(memtap_stream_reserve(MEMTAP_ENC_FIXED_MAX), 0);
    memtap_enc_u64(&memtap_stream, MEMTAP_REC_MAIN_DONE, ms);
    memtap_pace_after_record();
    memtap_unlock(&memtap_stream_lock);
}

Test(pacing, the_clocks_start_with_the_image, .timeout = 10) {
    cr_assert_eq(memtap_pace_elapsed_ms(), 0);
    clock_ns += 1234 * MS + 999999;
    cr_assert_eq(memtap_pace_elapsed_ms(), 1234);
    cr_assert_eq(memtap_pace_coarse_now(), clock_ns);
    cr_assert_eq(memtap_pace_realtime_ns(), clock_ns + 1700000000ull * 1000000000ull);
}

Test(pacing, a_time_marker_every_100_ms, .timeout = 10) {
    after_record_at(99);
    cr_assert_eq(memtap_stream.len, 0, "not yet");
    after_record_at(100);
    cr_assert_gt(memtap_stream.len, 2);
    cr_assert_eq(memtap_stream.buf[0], MEMTAP_REC_TIME);
    cr_assert_eq(memtap_stream.buf[1], 100, "ms since the image began");
    size_t len = memtap_stream.len;
    after_record_at(199);
    cr_assert_eq(memtap_stream.len, len, "100 ms from the last marker, not from the start");
    after_record_at(200);
    cr_assert_gt(memtap_stream.len, len);
    cr_assert_eq(memtap_stream.buf[len], MEMTAP_REC_TIME);
    cr_assert_eq(memtap_stream.buf[len + 1], 200);
}

Test(pacing, a_flush_every_500_ms, .timeout = 10) {
    off_t before = file_size();
    record_at(499);
    cr_assert_eq(file_size(), before, "not yet");
    cr_assert_eq(memtap_pace_dirty, 1);
    record_at(500);
    cr_assert_gt(file_size(), before, "pushed to the file");
    cr_assert_eq(memtap_pace_dirty, 0);
    cr_assert_eq(memtap_pace_last_flush, clock_ns);
    before = file_size();
    record_at(999);
    cr_assert_eq(file_size(), before, "500 ms from the last flush");
    cr_assert_eq(memtap_pace_dirty, 1, "a record is pending");
}

Test(pacing, no_flush_once_tracking_is_off, .timeout = 10) {
    record_at(10);
    memtap_state = MEMTAP_STATE_OFF;
    off_t before = file_size();
    after_record_at(600);
    cr_assert_eq(file_size(), before, "a record pending, but tracking is off");
}

Test(pacing, the_inline_check_takes_the_lock_only_when_due, .timeout = 10) {
    memtap_pace_dirty = 0;
    clock_ns += 50 * MS;
    memtap_lock(&memtap_stream_lock); /* held: the check must not take it when nothing is due */
    memtap_pace_note_record();
    memtap_unlock(&memtap_stream_lock);
    cr_assert_eq(memtap_pace_dirty, 1, "the record is pending");
    cr_assert_eq(memtap_stream.len, 0);
    clock_ns += 50 * MS;
    memtap_pace_note_record();
    cr_assert_eq(memtap_stream.buf[0], MEMTAP_REC_TIME, "due: a marker");
}

Test(pacing, an_idle_point_flushes_at_most_every_10_ms, .timeout = 10) {
    off_t before = file_size();
    errno = EDOM;
    memtap_idle(); /* the image's first idle point */
    cr_assert_eq(errno, EDOM, "errno kept");
    cr_assert_gt(file_size(), before);
    cr_assert_eq(memtap_pace_dirty, 0);
    before = file_size();
    record_at(5);
    memtap_idle();
    cr_assert_eq(file_size(), before, "5 ms after the last idle flush");
    cr_assert_eq(memtap_pace_dirty, 1);
    clock_ns = 5000 * MS + 10 * MS;
    memtap_idle();
    cr_assert_gt(file_size(), before, "10 ms after");
    before = file_size();
    clock_ns += 100 * MS;
    memtap_idle();
    cr_assert_eq(file_size(), before, "nothing pending, nothing written");
    cr_assert_eq(memtap_stream.len, 0, "and no marker");
}

Test(pacing, an_idle_point_leaves_a_busy_lock_and_other_processes_alone, .timeout = 10) {
    off_t before = file_size();
    memtap_lock(&memtap_stream_lock);
    memtap_idle();
    memtap_unlock(&memtap_stream_lock);
    cr_assert_eq(file_size(), before, "someone else is recording: no wait, no flush");
    memtap_capture_pid = getpid() + 1; /* as seen from a vfork child */
    memtap_idle();
    cr_assert_eq(file_size(), before);
    cr_assert_eq(memtap_pace_dirty, 1);
}
