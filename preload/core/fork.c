/* fork handlers: prepare takes every lock in order (modules, trie, record, sink) after
 * closing the unwind gate; the parent lets them go; the child resets them and begins an
 * image of its own in a new file, or stops tracking. May call modules.c, lifecycle.c,
 * output/ (stream, tbuf, capture_file) and stack/ (callstack, gate). */
#include "core/fork.h"

#include <pthread.h>
#include <unistd.h>

#include "core/lifecycle.h"
#include "core/modules.h"
#include "memtap/format.h"
#include "output/capture_file.h"
#include "output/shm.h"
#include "output/stream.h"
#include "output/tbuf.h"
#include "stack/callstack.h"
#include "unwind/gate.h"

/* fork from a signal handler that interrupted this thread inside memtap: our locks may be
 * held by this very thread, so they are not taken and the child does not track. */
static __thread int fork_in_hook __attribute__((tls_model("initial-exec")));

static void atfork_prepare(void) {
    fork_in_hook = memtap_guard > 0;
    memtap_guard++;
    if (fork_in_hook)
        return;
    memtap_gate_close();
    memtap_modules_lock();
    memtap_callstack_lock();
    memtap_lock(&memtap_stream_lock);
    memtap_stream_lock_sink(); /* no thread is flushing or registering a buffer */
}

static void atfork_parent(void) {
    if (!fork_in_hook) {
        memtap_stream_unlock_sink();
        memtap_stream_unlock();
        memtap_callstack_unlock();
        memtap_modules_unlock();
        memtap_gate_open();
    }
    memtap_guard--;
}

static void atfork_child(void) {
    memtap_image_closing = 0;
    memtap_modules_after_fork();
    memtap_callstack_after_fork();
    memtap_gate_reset();
    memtap_stream_after_fork();
    int collected = memtap_shm != NULL;
    if (collected)
        memtap_shm_forget(); /* the parent's region: we get one of our own */
    if (fork_in_hook || !memtap_capture_children())
        memtap_state = MEMTAP_STATE_OFF;
    if (memtap_state == MEMTAP_STATE_ACTIVE && collected) {
        /* The parent's image and stacks are not ours: an image of our own, collected too. */
        memtap_callstack_end_image();
        if (memtap_output_connect() < 0 || memtap_stream_init() < 0 ||
            memtap_begin_image(-1, MEMTAP_HDR_FORK_CHILD) < 0)
            memtap_state = MEMTAP_STATE_OFF;
        else
            memtap_modules_write(0);
    } else if (memtap_state == MEMTAP_STATE_ACTIVE) {
        /* The parent's image and stacks are not ours: start a capture of our own. */
        memtap_callstack_end_image();
        int fd = memtap_capture_open_child();
        if (fd < 0 || memtap_begin_image(fd, MEMTAP_HDR_FORK_CHILD) < 0) {
            memtap_state = MEMTAP_STATE_OFF;
            if (fd >= 0)
                close(fd);
        } else {
            memtap_modules_write(0);
        }
    }
    memtap_guard--;
}

void memtap_fork_install(void) { pthread_atfork(atfork_prepare, atfork_parent, atfork_child); }
