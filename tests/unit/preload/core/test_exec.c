/* exec hand-over without the exec: prepare ends the image with EXEC and gives an
 * environment whose MEMTAP_FD hands the descriptor on (the descriptor kept open across
 * exec); a failed exec begins a CONTINUED image in the same file, thread indices from 1,
 * the module map again. */
#include "support/live_capture.h"

#include "core/exec.h"
#include "core/track.h"
#include "memtap/format.h"
#include "output/capture_file.h"
#include "stack/callstack.h"

static char path[64];
static memtap_event_t ev[1024];

static void teardown(void) { unlink(path); }
TestSuite(exec, .init = live_prepare, .fini = teardown);

Test(exec, a_failed_exec_continues_the_capture_in_a_new_image, .timeout = 10) {
    int fd = live_begin(path, 0);
    memtap_track_alloc(MEMTAP_KIND_MALLOC, (void *)0x10000, 100);
    char *envp[] = {"A=1", MEMTAP_ENV_FD "=9:9:9:9", "B=2", NULL};
    char **env = memtap_exec_prepare(envp);
    cr_assert_not_null(env);
    char fdvar[128];
    cr_assert_eq(memtap_capture_fd_variable(fd, fdvar, sizeof fdvar), 0);
    cr_assert_str_eq(env[0], "A=1");
    cr_assert_str_eq(env[1], "B=2");
    cr_assert_str_eq(env[2], fdvar, "the old MEMTAP_FD replaced by ours");
    cr_assert_null(env[3]);
    cr_assert_eq(fcntl(fd, F_GETFD), 0, "kept open across the exec");
    cr_assert_eq(memtap_image_closing, 1, "no record starts meanwhile");

    memtap_exec_failed(env);
    cr_assert_eq(fcntl(fd, F_GETFD), FD_CLOEXEC);
    cr_assert_eq(memtap_image_closing, 0);
    memtap_callstack_lock(); /* both locks were let go */
    memtap_callstack_unlock();
    memtap_track_alloc(MEMTAP_KIND_MALLOC, (void *)0x20000, 200);
    memtap_finish();

    size_t n = live_events(path, ev, 1024), at = 0;
    cr_assert_eq(live_count(ev, n, MEMTAP_EV_HEADER, &at), 2);
    cr_assert_eq(ev[at].u.header.flags, 0);
    cr_assert_eq(live_count(ev, n, MEMTAP_EV_EXEC, &at), 1);
    cr_assert_eq(ev[at + 1].type, MEMTAP_EV_TRAILER, "the first image ends at the exec");
    cr_assert_eq(ev[at + 1].u.trailer.allocations, 1);
    cr_assert_eq(ev[at + 2].type, MEMTAP_EV_HEADER);
    cr_assert_eq(ev[at + 2].u.header.flags, MEMTAP_HDR_CONTINUED);
    cr_assert_eq(ev[at + 3].type, MEMTAP_EV_MODULES_RESET, "the map written again");
    size_t thread = at;
    while (ev[thread].type != MEMTAP_EV_THREAD)
        thread++;
    cr_assert_eq(ev[thread].u.thread.index, 1, "thread indices start again");
    cr_assert_eq(live_count(ev, n, MEMTAP_EV_ALLOC, &at), 2);
    cr_assert_eq(live_count(ev, n, MEMTAP_EV_EXIT, NULL), 1);
    cr_assert(ev[n - 1].u.end.complete);
}

Test(exec, nothing_is_prepared_untracked_or_in_another_process, .timeout = 10) {
    live_begin(path, 0);
    memtap_capture_pid = getpid() + 1; /* a vfork child */
    cr_assert_null(memtap_exec_prepare(NULL));
    memtap_capture_pid = getpid();
    memtap_state = MEMTAP_STATE_OFF;
    cr_assert_null(memtap_exec_prepare(NULL));
    memtap_callstack_lock(); /* the locks were let go */
    memtap_callstack_unlock();
    memtap_lock(&memtap_stream_lock);
    memtap_unlock(&memtap_stream_lock);
}
