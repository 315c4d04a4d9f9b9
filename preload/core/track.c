/* Recording allocations, frees and reallocations: the stack's node (stack/callstack), the
 * thread's registered buffer (threads.c) and the record itself (output/record, tbuf),
 * then time markers and flushes when due (output/pacing). May call output/, stack/ and
 * threads.c; takes no lock on its usual path. */
#include "core/track.h"

#include <errno.h>
#include <stdint.h>
#include <time.h>

#include "core/threads.h"
#include "hooks/real.h"
#include "memtap/format.h"
#include "output/pacing.h"
#include "output/stream.h"
#include "output/tbuf.h"
#include "stack/callstack.h"

/* Room for `n` bytes in the thread's buffer: a full one is written out first. */
static int room_for(memtap_tbuf_t *b, size_t n) {
    if (__builtin_expect(b->enc.cap - b->enc.len >= n, 1))
        return 0;
    return memtap_stream_flush_own(b);
}

/* After busy is set (with a full barrier): 0 when the record may go into b, or -1 when an
 * image is closing (then this waits until it is over) or b is not registered in image `img`
 * any more. On -1 busy is cleared and the caller starts over. */
static __attribute__((noinline, cold)) int may_not_record(memtap_tbuf_t *b) {
    __atomic_store_n(&b->busy, 0, __ATOMIC_RELEASE);
    while (__atomic_load_n(&memtap_image_closing, __ATOMIC_ACQUIRE)) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static inline __attribute__((always_inline)) int may_record(memtap_tbuf_t *b, uint32_t img) {
    /* img was read before busy was set: 0 if the image ended in between (unregistered) */
    if (__builtin_expect(!__atomic_load_n(&memtap_image_closing, __ATOMIC_SEQ_CST) && img &&
                             __atomic_load_n(&b->image, __ATOMIC_RELAXED) == img,
                         1))
        return 0;
    return may_not_record(b);
}

/* The thread's buffer with room for `room` bytes, and the node of frames[0..n) valid in the
 * buffer's image. A failed exec starts a new image (new node ids), so a node interned
 * before it is interned again. Returns NULL when tracking is off. */
static memtap_tbuf_t *buffer_with_stack(uint64_t *frames, int *n, int *known, size_t room,
                                        uint32_t *node) {
    for (int attempt = 0;; attempt++) {
        uint32_t img;
        *node = memtap_callstack_intern(frames, *n, *known, &img); /* (again in a new image) */
        memtap_tbuf_t *b = memtap_thread_buffer();
        if (!b || room_for(b, room) < 0)
            return NULL;
        if (img == b->image)
            return b;
        if (*n == MEMTAP_STACK_MEMO) { /* the memo's node is of an image that ended */
            *n = memtap_stack_of_call(frames, known, 0);
            continue;
        }
        if (attempt == 3) { /* execs failing in a storm: keep the block, without its stack */
            *node = 0;
            return b;
        }
    }
}

void memtap_track_alloc(unsigned kind, void *p, size_t size) {
    uint64_t frames[memtap_callstack_room()];
    int known;
    int n = memtap_stack_of_call(frames, &known, 1);
    uint32_t node;
    memtap_tbuf_t *b;
    for (;;) {
        if (!(b = buffer_with_stack(frames, &n, &known, MEMTAP_RECORD_ROOM, &node)))
            return;
        uint32_t img = __atomic_load_n(&b->image, __ATOMIC_RELAXED);
        memtap_tbuf_enter(b);
        if (may_record(b, img) == 0)
            break;
    }
    memtap_tbuf_stamp(&b->enc, &b->key, memtap_tbuf_read_key());
    memtap_enc_alloc(&b->enc, kind, (uint64_t)(uintptr_t)p, size, node);
    memtap_tbuf_commit(b);
    memtap_pace_note_record();
}

/* FREE or MUNMAP, before the real call: its ticket orders it before any reuse. */
static void record_free(uint8_t type, void *p, size_t len) {
    memtap_tbuf_t *b;
    uint64_t ticket;
    for (;;) {
        if (!(b = memtap_thread_buffer()) || room_for(b, MEMTAP_RECORD_ROOM) < 0)
            return;
        uint32_t img = __atomic_load_n(&b->image, __ATOMIC_RELAXED);
        __atomic_store_n(&b->busy, 1, __ATOMIC_RELAXED); /* the ticket's barrier publishes it */
        ticket = memtap_tbuf_ticket();
        if (may_record(b, img) == 0)
            break; /* (a ticket without a record is only a gap in the keys) */
    }
    memtap_tbuf_stamp(&b->enc, &b->key, ticket);
    if (type == MEMTAP_REC_FREE)
        memtap_enc_free(&b->enc, (uint64_t)(uintptr_t)p);
    else
        memtap_enc_munmap(&b->enc, (uint64_t)(uintptr_t)p, len);
    b->key = ticket + 1;
    memtap_tbuf_commit(b);
    memtap_pace_note_record();
}

void memtap_track_free(void *p) { record_free(MEMTAP_REC_FREE, p, 0); }
void memtap_track_munmap(void *p, size_t len) { record_free(MEMTAP_REC_MUNMAP, p, len); }

static void *call_real_realloc(void *ctx, void *p, size_t n, size_t size) {
    (void)ctx;
    return n ? memtap_real.reallocarray(p, n, size) : memtap_real.realloc(p, size);
}

void *memtap_track_realloc(unsigned kind, void *p, size_t n, size_t size) {
    return memtap_track_realloc_with(kind, p, kind == MEMTAP_KIND_REALLOCARRAY ? n : 0, size,
                                     call_real_realloc, NULL);
}

void *memtap_track_realloc_with(unsigned kind, void *p, size_t n, size_t size,
                                memtap_realloc_fn call, void *ctx) {
    uint64_t frames[memtap_callstack_room()];
    int known;
    int depth = memtap_stack_of_call(frames, &known, 1);
    uint32_t node;
    memtap_tbuf_t *b;
    /* the ticket is taken before the real call: a reuse of the old address by another thread
     * reads a later key, so replay sees this FREE first */
    uint64_t ticket = 0;
    for (;;) {
        if (!(b = buffer_with_stack(frames, &depth, &known, 2 * MEMTAP_RECORD_ROOM, &node)))
            break;
        uint32_t img = __atomic_load_n(&b->image, __ATOMIC_RELAXED);
        __atomic_store_n(&b->busy, 1, __ATOMIC_RELAXED);
        ticket = memtap_tbuf_ticket();
        if (may_record(b, img) == 0)
            break;
    }
    void *q = call(ctx, p, n, size);
    int saved = errno;
    if (b) {
        size_t bytes = n ? n * size : size;
        if (p && (q || bytes == 0)) { /* glibc's realloc(p, 0) frees p and returns NULL */
            memtap_tbuf_stamp(&b->enc, &b->key, ticket);
            memtap_enc_free(&b->enc, (uint64_t)(uintptr_t)p);
            b->key = ticket + 1;
        }
        if (q) {
            memtap_tbuf_stamp(&b->enc, &b->key, memtap_tbuf_read_key());
            memtap_enc_alloc(&b->enc, kind, (uint64_t)(uintptr_t)q, bytes, node);
        }
        memtap_tbuf_commit(b);
        memtap_pace_note_record();
    }
    errno = saved;
    return q;
}
