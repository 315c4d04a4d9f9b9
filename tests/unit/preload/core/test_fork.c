/* fork: a tracked child begins a capture of its own, <output>.<pid>, marked FORK_CHILD, with
 * the module map and its own records only; the parent's image goes on; with --no-children
 * the child records nothing. */
#include "support/live_capture.h"

#include <sys/wait.h>

#include "core/fork.h"
#include "core/track.h"
#include "memtap/format.h"
#include "output/capture_file.h"

static char out[64], child_path[96];
static memtap_event_t ev[1024];

static pid_t fork_and_record(void) {
    setenv(MEMTAP_ENV_OUTPUT, out, 1);
    uint32_t flags;
    int fd = memtap_capture_open(&flags);
    cr_assert_geq(fd, 0);
    cr_assert_eq(memtap_stream_init(), 0);
    cr_assert_eq(memtap_begin_image(fd, flags), 0);
    memtap_state = MEMTAP_STATE_ACTIVE;
    live_prepare();
    memtap_fork_install();
    memtap_track_alloc(MEMTAP_KIND_MALLOC, (void *)0x10000, 100);
    pid_t pid = fork();
    if (pid == 0) {
        memtap_track_alloc(MEMTAP_KIND_MALLOC, (void *)0x70000, 700);
        memtap_finish();
        _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    snprintf(child_path, sizeof child_path, "%s.%ld", out, (long)pid);
    return pid;
}

static void setup(void) {
    strcpy(out, "/tmp/memtap-unit-XXXXXX");
    close(mkstemp(out));
    unlink(out); /* a name for a capture that does not exist yet */
    unsetenv(MEMTAP_ENV_FD);
    unsetenv(MEMTAP_ENV_NO_CHILDREN);
}
static void teardown(void) {
    unlink(out);
    unlink(child_path);
}
TestSuite(fork, .init = setup, .fini = teardown);

Test(fork, a_child_has_a_capture_of_its_own, .timeout = 10) {
    pid_t pid = fork_and_record();
    memtap_track_alloc(MEMTAP_KIND_MALLOC, (void *)0x80000, 800);
    memtap_finish();

    size_t n = live_events(child_path, ev, 1024), at = 0;
    cr_assert_eq(ev[0].type, MEMTAP_EV_HEADER);
    cr_assert_eq(ev[0].u.header.flags, MEMTAP_HDR_FORK_CHILD);
    cr_assert_eq(ev[0].u.header.pid, (uint64_t)pid);
    cr_assert_eq(ev[0].u.header.ppid, (uint64_t)getpid());
    cr_assert_eq(ev[1].type, MEMTAP_EV_MODULES_RESET);
    cr_assert_eq(live_count(ev, n, MEMTAP_EV_ALLOC, &at), 1, "the child's records only");
    cr_assert_eq(ev[at].u.alloc.addr, 0x70000);
    cr_assert(ev[n - 1].u.end.complete);

    n = live_events(out, ev, 1024);
    cr_assert_eq(live_count(ev, n, MEMTAP_EV_ALLOC, &at), 2, "the parent goes on");
    cr_assert_eq(ev[at].u.alloc.addr, 0x10000);
    cr_assert(ev[n - 1].u.end.complete);
}

Test(fork, no_children_leaves_the_child_untracked, .timeout = 10) {
    setenv(MEMTAP_ENV_NO_CHILDREN, "1", 1);
    fork_and_record();
    cr_assert_eq(access(child_path, F_OK), -1, "no capture for the child");
    memtap_finish();
    size_t n = live_events(out, ev, 1024);
    cr_assert_eq(live_count(ev, n, MEMTAP_EV_ALLOC, NULL), 1, "the child's record is nowhere");
}
