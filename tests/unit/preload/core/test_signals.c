/* The fatal-signal flush: installed only where the program left the default action; a
 * signal sent or a fault pushes what was recorded to the file, then the default action
 * ends the process (the capture readable, incomplete). */
#include "support/live_capture.h"

#include <signal.h>
#include <sys/wait.h>

#include "core/signals.h"
#include "core/track.h"
#include "memtap/format.h"

static char path[64];
static memtap_event_t ev[256];

static void teardown(void) { unlink(path); }
TestSuite(signals, .fini = teardown);

static void programs_handler(int sig) { (void)sig; }

Test(signals, only_default_actions_are_taken_over, .timeout = 10) {
    signal(SIGHUP, programs_handler);
    signal(SIGINT, SIG_IGN);
    memtap_signals_install();
    struct sigaction sa;
    sigaction(SIGTERM, NULL, &sa);
    cr_assert(sa.sa_flags & SA_SIGINFO, "ours");
    sigaction(SIGQUIT, NULL, &sa);
    cr_assert(sa.sa_flags & SA_SIGINFO);
    sigaction(SIGHUP, NULL, &sa);
    cr_assert_eq(sa.sa_handler, programs_handler, "the program's handler stays");
    sigaction(SIGINT, NULL, &sa);
    cr_assert_eq(sa.sa_handler, SIG_IGN);
    sigaction(SIGUSR1, NULL, &sa);
    cr_assert_eq(sa.sa_handler, SIG_DFL, "not a fatal signal of ours");
}

/* A child records a block, then dies by sig; returns its status. */
static int die_after_a_record(int sig) {
    int fd = live_temp(path);
    pid_t pid = fork();
    if (pid == 0) { /* (no Criterion assertion in the child: it would die by its exit) */
        if (memtap_stream_init() != 0 || memtap_begin_image(fd, 0) != 0)
            _exit(3);
        memtap_state = MEMTAP_STATE_ACTIVE;
        live_prepare();
        memtap_signals_install();
        memtap_track_alloc(MEMTAP_KIND_MALLOC, (void *)0x12340, 77);
        if (sig == SIGSEGV)
            *(volatile int *)(uintptr_t)16 = 1;
        else
            kill(getpid(), sig);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    return status;
}

static void assert_record_kept(void) {
    size_t n = live_events(path, ev, 256), at = 0;
    cr_assert_eq(live_count(ev, n, MEMTAP_EV_ALLOC, &at), 1);
    cr_assert_eq(ev[at].u.alloc.addr, 0x12340);
    cr_assert_not(ev[n - 1].u.end.complete, "no trailer: the program did not exit");
}

Test(signals, a_signal_sent_flushes_then_kills, .timeout = 10) {
    int status = die_after_a_record(SIGTERM);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
    assert_record_kept();
}

Test(signals, a_fault_flushes_then_kills, .timeout = 10) {
    struct sigaction sa;
    sigaction(SIGSEGV, NULL, &sa);
    if (sa.sa_handler != SIG_DFL) /* AddressSanitizer's: ours would not be installed */
        cr_skip_test("SIGSEGV is handled already (a sanitizer)");
    int status = die_after_a_record(SIGSEGV);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
    assert_record_kept();
}
