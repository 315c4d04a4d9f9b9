/* Ordered record buffer with compression outside the record lock. */
#include "stream.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sink.h"
#include "tracker.h"

/* Each on a cache line of its own: every record takes the lock and writes the encoder
 * state, from whichever core; nothing that other threads only read may share those lines. */
#define LINE __attribute__((aligned(64)))
LINE memtap_lock_t memtap_stream_lock = MEMTAP_LOCK_INIT;
LINE memtap_enc_t memtap_stream;

static LINE memtap_lock_t sink_lock = MEMTAP_LOCK_INIT;
static uint8_t *buffers[2];
static memtap_sink_t sink;

int memtap_stream_init(void) {
    for (int i = 0; i < 2; i++) {
        void *p = mmap(NULL, MEMTAP_SINK_CHUNK, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return -1;
        buffers[i] = p;
    }
    memtap_stream.buf = buffers[0];
    memtap_stream.cap = MEMTAP_SINK_CHUNK;
    return 0;
}

int memtap_stream_open(int fd, int *err) {
    memtap_sink_release(&sink);
    memtap_enc_reset(&memtap_stream);
    if (memtap_sink_open(&sink, fd, NULL) < 0) {
        *err = sink.error;
        return -1;
    }
    return 0;
}

int memtap_stream_fd(void) { return sink.fd; }

static void write_failed(void) { memtap_disable("cannot write the capture", sink.error); }

/* Swaps in the other buffer and compresses the full one with the record lock released.
 * Entered and left with the record lock held. */
static int hand_over(int wait, int lz4_flush) {
    if (wait)
        memtap_lock(&sink_lock); /* the other buffer is free once we have it */
    else if (memtap_trylock(&sink_lock) != 0)
        return -1;
    uint8_t *full = memtap_stream.buf;
    size_t len = memtap_stream.len;
    memtap_stream.buf = full == buffers[0] ? buffers[1] : buffers[0];
    memtap_stream.len = 0;
    memtap_unlock(&memtap_stream_lock);
    int rc = len ? memtap_sink_put(&sink, full, len) : 0;
    if (rc == 0 && lz4_flush)
        rc = memtap_sink_flush(&sink);
    memtap_unlock(&sink_lock);
    memtap_lock(&memtap_stream_lock);
    if (rc < 0)
        write_failed();
    return rc;
}

int memtap_stream_reserve(size_t n) {
    while (memtap_stream.cap - memtap_stream.len < n) {
        if (hand_over(1, 0) < 0)
            return -1;
        if (__atomic_load_n(&memtap_state, __ATOMIC_RELAXED) != MEMTAP_STATE_ACTIVE)
            return -1; /* switched off while the lock was released */
    }
    return 0;
}

/* Compresses the current buffer keeping the record lock: used where a release would let
 * another thread's record into the middle of ours. */
static int drain_keeping_lock(int end_frame) {
    memtap_lock(&sink_lock);
    int rc = memtap_stream.len ? memtap_sink_put(&sink, memtap_stream.buf, memtap_stream.len) : 0;
    memtap_stream.len = 0;
    if (end_frame) {
        if (rc == 0)
            rc = memtap_sink_end(&sink);
        memtap_sink_release(&sink);
    }
    memtap_unlock(&sink_lock);
    if (rc < 0)
        write_failed();
    return rc;
}

int memtap_stream_append(const uint8_t *p, size_t n) {
    while (n > 0) {
        if (memtap_stream.len == memtap_stream.cap && drain_keeping_lock(0) < 0)
            return -1;
        size_t k = memtap_stream.cap - memtap_stream.len;
        k = k < n ? k : n;
        memcpy(memtap_stream.buf + memtap_stream.len, p, k);
        memtap_stream.len += k;
        p += k;
        n -= k;
    }
    return 0;
}

int memtap_stream_flush(int wait) { return hand_over(wait, 1); }

int memtap_stream_end(void) { return drain_keeping_lock(1); }

void memtap_stream_after_fork(void) {
    memtap_lock_reset(&memtap_stream_lock);
    memtap_lock_reset(&sink_lock);
    memtap_sink_release(&sink);
    close(sink.fd); /* the parent's file; its output buffer mapping is reused */
}
