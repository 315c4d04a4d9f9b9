/* Threads in the capture (threads.c): a thread's first record of an image writes its THREAD
 * record and registers its buffer; its end writes the buffer out a last time; a rename
 * writes a THREAD_NAME record. */
#ifndef MEMTAP_PRELOAD_THREADS_H
#define MEMTAP_PRELOAD_THREADS_H

#include <stdint.h>

#include "core/lifecycle.h"
#include "output/tbuf.h"

/* At init, once: the key whose destructor runs at each tracked thread's end. (Without it,
 * a thread's last records are written out with the image's end, not its own.) */
void memtap_threads_init(void);

/* An image begins: thread indices start again from 1. Record lock held (or one thread). */
void memtap_threads_begin_image(void);

/* memtap_thread_buffer's slow path: registers b (NULL: it could not be mapped, which
 * disables tracking) in the current image. Takes the record lock. */
memtap_tbuf_t *memtap_thread_buffer_register(memtap_tbuf_t *b);

/* The calling thread's buffer, registered in the current image: the first record of a
 * thread in an image writes its THREAD record (source 0) and registers the buffer. NULL
 * when tracking is off or memory ran out. The image may end as soon as the lock is let
 * go, unregistering the buffer again: it is returned all the same, and the record's image
 * check (track.c's may_record) sends its caller round again. Judging by b->image after the
 * unlock dropped that record: racing the failing execs of tests/e2e/progs/stress.c, a
 * thread lost an allocation or a free in 7 runs of 400 (four at a time). Inside malloc. */
static inline __attribute__((always_inline)) memtap_tbuf_t *memtap_thread_buffer(void) {
    memtap_tbuf_t *b = memtap_tbuf_mine();
    if (__builtin_expect(b && b->image == __atomic_load_n(&memtap_image_seq, __ATOMIC_ACQUIRE),
                         1))
        return b;
    return memtap_thread_buffer_register(b);
}

/* The calling thread renamed itself (pthread_setname_np). Guard raised. */
void memtap_track_thread_name(const char *name);

#endif
