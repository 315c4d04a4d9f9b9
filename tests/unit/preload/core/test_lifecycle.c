/* The tracker's state and the life of an image: disable says one line and turns tracking
 * off for good; an image begins with its header and a new number and ends with EXIT and a
 * trailer the reader accepts; finish happens once, never in another process or inside a
 * hook. */
#include "support/live_capture.h"

#include <errno.h>

#include "memtap/format.h"

static char path[64];
static memtap_event_t ev[64];

static void teardown(void) { unlink(path); }
TestSuite(lifecycle, .fini = teardown);

Test(lifecycle, disable_says_one_line_and_turns_tracking_off, .timeout = 10) {
    memtap_state = MEMTAP_STATE_ACTIVE;
    live_catch_stderr();
    memtap_disable("cannot do the thing", ENOSPC);
    cr_assert_not(memtap_tracking());
    memtap_disable("cannot do another thing", EIO); /* a second failure says nothing */
    cr_assert_str_eq(live_stderr_text(), "memtap: cannot do the thing: No space left on "
                                         "device; tracking is off, the program goes on\n");
}

Test(lifecycle, an_image_begins_with_its_header_and_a_new_number, .timeout = 10) {
    uint32_t before = memtap_image_seq;
    int fd = live_begin(path, MEMTAP_HDR_CONTINUED);
    cr_assert_eq(memtap_image_seq, before + 1);
    cr_assert_eq(memtap_capture_pid, getpid());
    memtap_finish();
    cr_assert_eq(fcntl(fd, F_GETFD), -1, "the capture's descriptor is closed");
    size_t n = live_events(path, ev, 64);
    cr_assert_eq(ev[0].type, MEMTAP_EV_HEADER);
    cr_assert_eq(ev[0].u.header.flags, MEMTAP_HDR_CONTINUED);
    cr_assert_eq(ev[0].u.header.pid, (uint64_t)getpid());
    cr_assert_eq(ev[0].u.header.ppid, (uint64_t)getppid());
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[len > 0 ? len : 0] = '\0';
    cr_assert_str_eq(ev[0].u.header.exe, exe);
    cr_assert_eq(ev[n - 1].type, MEMTAP_EV_END);
}

Test(lifecycle, finish_ends_the_image_with_exit_and_a_trailer, .timeout = 10) {
    live_begin(path, 0);
    memtap_track_main_done();
    memtap_finish();
    cr_assert_not(memtap_tracking());
    cr_assert_eq(memtap_image_closing, 0, "threads waiting to record go on, untracked");
    size_t n = live_events(path, ev, 64);
    memtap_ev_type_t want[] = {MEMTAP_EV_HEADER, MEMTAP_EV_MAIN_DONE, MEMTAP_EV_TIME,
                               MEMTAP_EV_EXIT, MEMTAP_EV_TRAILER, MEMTAP_EV_END};
    cr_assert_eq(n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(ev[i].type, want[i], "event %zu", i);
    cr_assert_eq(ev[4].u.trailer.allocations, 0);
    cr_assert_eq(ev[4].u.trailer.frees, 0);
    cr_assert(ev[5].u.end.complete);
}

Test(lifecycle, finish_happens_once_in_the_capture_process_outside_hooks, .timeout = 10) {
    live_begin(path, 0);
    memtap_capture_pid = getpid() + 1; /* a vfork child exiting */
    memtap_finish();
    cr_assert(memtap_tracking());
    memtap_capture_pid = getpid();
    memtap_guard = 1; /* exit from a signal handler that interrupted memtap */
    memtap_finish();
    cr_assert(memtap_tracking());
    memtap_guard = 0;
    memtap_finish();
    cr_assert_not(memtap_tracking());
    struct stat st;
    stat(path, &st);
    memtap_finish();
    struct stat again;
    stat(path, &again);
    cr_assert_eq(again.st_size, st.st_size, "nothing more after the end");
    size_t n = live_events(path, ev, 64);
    cr_assert_eq(live_count(ev, n, MEMTAP_EV_EXIT, NULL), 1);
}

Test(lifecycle, an_image_that_cannot_start_says_why, .timeout = 10) {
    cr_assert_eq(memtap_stream_init(), 0);
    live_catch_stderr();
    cr_assert_eq(memtap_begin_image(-1, 0), -1);
    cr_assert_str_eq(live_stderr_text(), "memtap: cannot start the capture: Bad file "
                                         "descriptor; tracking is off, the program goes on\n");
}
