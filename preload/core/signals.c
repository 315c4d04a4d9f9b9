/* The fatal-signal flush: push what is buffered to the file, then let the default action
 * happen. The capture stays incomplete (no trailer), as it should for a program that did not
 * exit, but loses nothing. May call output/stream and lifecycle.c. */
#include "core/signals.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <unistd.h>

#include "core/lifecycle.h"
#include "output/stream.h"

static const int flushed_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT,
                                      SIGTERM, SIGINT, SIGQUIT, SIGHUP};

static void on_fatal_signal(int sig, siginfo_t *info, void *ctx) {
    (void)ctx;
    int saved = errno;
    memtap_guard++;
    if (getpid() == memtap_capture_pid && memtap_trylock(&memtap_stream_lock) == 0) {
        if (memtap_tracking())
            memtap_stream_flush(0);
        memtap_state = MEMTAP_STATE_OFF;
        memtap_stream_unlock();
    }
    struct sigaction dfl = {0};
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    memtap_guard--;
    errno = saved;
    if (info->si_code <= 0) /* sent by kill, raise or abort: send it again */
        raise(sig);
    /* a fault: returning re-runs the faulting instruction under the default action */
}

void memtap_signals_install(void) {
    for (size_t i = 0; i < sizeof flushed_signals / sizeof flushed_signals[0]; i++) {
        struct sigaction old, sa = {0};
        if (sigaction(flushed_signals[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL ||
            (old.sa_flags & SA_SIGINFO))
            continue;
        sa.sa_sigaction = on_fatal_signal;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(flushed_signals[i], &sa, NULL);
    }
}
