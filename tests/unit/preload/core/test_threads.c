/* Threads in the capture: each thread's first record writes its THREAD record (index in
 * the image, tid, name); a rename is recorded once the thread is known; a thread's end
 * writes its buffer out for good and takes it out of the registry; a buffer that cannot
 * be mapped turns tracking off with one line. */
#include "support/live_capture.h"

#include <errno.h>
#include <pthread.h>
#include <sys/prctl.h>

#include "core/threads.h"
#include "core/track.h"
#include "output/record.h"
#include "memtap/format.h"

static char path[64];
static memtap_event_t ev[256];

static void teardown(void) { unlink(path); }
TestSuite(threads, .init = live_prepare, .fini = teardown);

static pid_t worker_tid;
static void *worker(void *arg) {
    (void)arg;
    prctl(PR_SET_NAME, "worker");
    worker_tid = gettid();
    memtap_track_alloc(MEMTAP_KIND_MALLOC, (void *)0x50000, 500);
    return NULL; /* its end writes its last chunk and unregisters its buffer */
}

/* 1 when the raw stream holds a CHUNK of source 2 closing it (its last one). */
static int worker_closed(void) {
    uint8_t want[MEMTAP_CHUNK_HEADER_MAX];
    size_t len = memtap_enc_chunk_header(want, 2, MEMTAP_WATERMARK_CLOSED, 0) - 1;
    size_t n;
    int ended;
    uint8_t *raw = live_raw(path, &n, &ended);
    int found = memmem(raw, n, want, len) != NULL; /* (the length byte left out) */
    free(raw);
    return found;
}

Test(threads, each_thread_gets_its_index_tid_and_name, .timeout = 10) {
    live_begin(path, 0);
    memtap_track_alloc(MEMTAP_KIND_MALLOC, (void *)0x10000, 100);
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    pthread_join(t, NULL);
    memtap_lock(&memtap_stream_lock);
    memtap_stream_flush(1);
    memtap_unlock(&memtap_stream_lock);
    cr_assert(worker_closed(), "the worker's end wrote its last chunk");
    memtap_finish();
    size_t n = live_events(path, ev, 256), first = 0;
    cr_assert_eq(live_count(ev, n, MEMTAP_EV_THREAD, &first), 2);
    cr_assert_eq(ev[first].u.thread.index, 1);
    cr_assert_eq(ev[first].u.thread.tid, (uint64_t)gettid());
    size_t second = first + 1;
    while (ev[second].type != MEMTAP_EV_THREAD)
        second++;
    cr_assert_eq(ev[second].u.thread.index, 2);
    cr_assert_eq(ev[second].u.thread.tid, (uint64_t)worker_tid);
    cr_assert_str_eq(ev[second].u.thread.name, "worker");
    cr_assert_eq(live_count(ev, n, MEMTAP_EV_ALLOC, NULL), 2, "the worker's record kept");
}

Test(threads, a_rename_is_recorded_once_the_thread_is_known, .timeout = 10) {
    live_begin(path, 0);
    memtap_track_thread_name("too early"); /* its THREAD record will carry its name */
    memtap_track_alloc(MEMTAP_KIND_MALLOC, (void *)0x10000, 100);
    memtap_track_thread_name("renamed");
    memtap_finish();
    size_t n = live_events(path, ev, 256), at = 0;
    cr_assert_eq(live_count(ev, n, MEMTAP_EV_THREAD_NAME, &at), 1);
    cr_assert_eq(ev[at].u.thread.index, 1);
    cr_assert_str_eq(ev[at].u.thread.name, "renamed");
}

Test(threads, indices_start_again_in_each_image, .timeout = 10) {
    live_begin(path, 0);
    memtap_track_alloc(MEMTAP_KIND_MALLOC, (void *)0x10000, 100);
    memtap_tbuf_t *b = memtap_tbuf_peek();
    cr_assert_eq(b->index, 1);
    memtap_threads_begin_image();
    memtap_image_seq++; /* as memtap_begin_image does: the buffer is of the old image now */
    cr_assert_eq(memtap_thread_buffer(), b);
    cr_assert_eq(b->index, 1, "registered again, as thread 1 of the new image");
    cr_assert_eq(b->image, memtap_image_seq);
}

Test(threads, a_buffer_that_cannot_be_mapped_turns_tracking_off, .timeout = 10) {
    live_begin(path, 0);
    live_catch_stderr();
    cr_assert_null(memtap_thread_buffer_register(NULL));
    cr_assert_not(memtap_tracking());
    cr_assert_str_eq(live_stderr_text(), "memtap: cannot map a record buffer for a thread: "
                                         "Cannot allocate memory; tracking is off, the "
                                         "program goes on\n");
}
