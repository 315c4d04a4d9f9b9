/* Threads in the capture: registration of a thread's buffer with its THREAD record, its
 * name, and what a thread's end releases. May call output/ (stream, tbuf, pacing,
 * record), stack/ and python/pystack (per-thread state to release). */
#include "core/threads.h"

#include <errno.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "output/pacing.h"
#include "output/record.h"
#include "output/stream.h"
#include "python/pystack.h"
#include "unwind/fastunwind.h"
#include "unwind/gate.h"
#include "stack/memo.h"
#include "stack/versions.h"
#include "stack/stacks.h"

static pthread_key_t thread_exit_key;
static uint32_t threads_seen; /* in this image; record lock */

static void on_thread_exit(void *unused) {
    (void)unused;
    memtap_guard++;
    memtap_tbuf_t *b = memtap_tbuf_peek();
    if (b)
        memtap_stream_thread_done(b); /* its last records; later ones start a new buffer */
    memtap_tbuf_release_mine();
    memtap_stack_cache_release();
    memtap_pystack_thread_exit();
    memtap_memo_thread_exit();
    memtap_versions_thread_exit();
    memtap_fast_unwind_thread_exit();
    memtap_gate_thread_exit();
    memtap_guard--;
}

void memtap_threads_init(void) { pthread_key_create(&thread_exit_key, on_thread_exit); }

void memtap_threads_begin_image(void) { threads_seen = 0; }

__attribute__((noinline)) memtap_tbuf_t *memtap_thread_buffer_register(memtap_tbuf_t *b) {
    if (!b) {
        memtap_disable("cannot map a record buffer for a thread", ENOMEM);
        return NULL;
    }
    int registered = 0;
    memtap_lock(&memtap_stream_lock);
    if (memtap_tracking() && memtap_stream_reserve(MEMTAP_ENC_FIXED_MAX + 16) == 0) {
        char name[17] = "";
        prctl(PR_GET_NAME, name);
        pthread_setspecific(thread_exit_key, (void *)1); /* runs on_thread_exit at its end */
        memtap_enc_thread(&memtap_stream, (uint64_t)syscall(SYS_gettid), name);
        memtap_stream_register(b, ++threads_seen, memtap_image_seq);
        memtap_pace_after_record();
        registered = 1;
    }
    memtap_stream_unlock();
    return registered ? b : NULL;
}

void memtap_track_thread_name(const char *name) {
    memtap_tbuf_t *b = memtap_tbuf_peek();
    memtap_lock(&memtap_stream_lock);
    /* a thread not yet seen gets its name with its THREAD record, at its first allocation */
    if (memtap_tracking() && b && b->image == memtap_image_seq &&
        memtap_stream_reserve(MEMTAP_ENC_FIXED_MAX + 64) == 0)
        memtap_enc_thread_name(&memtap_stream, b->index, name);
    memtap_stream_unlock();
}
