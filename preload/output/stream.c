/* Source 0's record buffer, the threads' buffers and the staging of CHUNKs for the sink. */
#include "output/stream.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memtap/format.h"
#include "memtap/varint.h"
#include "core/lifecycle.h"
#include "output/shm.h"

/* Each on a cache line of its own: the record lock and source 0's encoder are written by
 * whichever thread records a stack node; nothing that others only read may share them. */
#define LINE __attribute__((aligned(64)))
LINE memtap_lock_t memtap_stream_lock = MEMTAP_LOCK_INIT;
LINE memtap_enc_t memtap_stream;
static uint64_t source0_key;      /* record lock */
static uint64_t source0_watermark; /* sink lock */

static LINE memtap_lock_t sink_lock = MEMTAP_LOCK_INIT;
static uint8_t *staging; /* CHUNKs on their way to the compressor; sink lock */
static size_t staged;
static memtap_sink_t sink;
static uint64_t file_images; /* pieces in the file so far (bare mode: a stream id each) */
static uint64_t source0_base; /* collector mode: source 0's bytes of this image in CHUNKs */
memtap_write_fn memtap_stream_write;

/* Collector mode: records go to the shared region's ring (output/shm.h), not to a file. */
static int collecting(void) { return memtap_shm != NULL; }

int memtap_stream_init(void) {
    if (collecting()) { /* source 0's buffer in the region, where the collector can read it */
        memtap_stream.buf = memtap_shm_source0();
        memtap_stream.cap = MEMTAP_SHM_SOURCE0_SIZE;
        return 0;
    }
    uint8_t *p[2];
    for (int i = 0; i < 2; i++) {
        p[i] = mmap(NULL, MEMTAP_SINK_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                    -1, 0);
        if (p[i] == MAP_FAILED)
            return -1;
    }
    memtap_stream.buf = p[0];
    memtap_stream.cap = MEMTAP_SINK_CHUNK;
    staging = p[1];
    return 0;
}

int memtap_stream_fd(void) { return sink.fd; }

static void write_failed(void) {
    if (collecting() && __atomic_load_n(&memtap_shm->collector_gone, __ATOMIC_ACQUIRE))
        memtap_state = MEMTAP_STATE_OFF; /* memtap run said why, once for every process */
    else if (collecting())
        memtap_disable("memtap run's collector stopped reading", 0);
    else
        memtap_disable("cannot write the capture", sink.error);
}

/* Bytes to the compressor, through the staging buffer. Sink lock held. */
static int stage(const uint8_t *p, size_t n) {
    while (n > 0) {
        size_t k = MEMTAP_SINK_CHUNK - staged;
        k = k < n ? k : n;
        memcpy(staging + staged, p, k);
        staged += k;
        p += k;
        n -= k;
        if (staged == MEMTAP_SINK_CHUNK) {
            staged = 0;
            if (memtap_sink_put(&sink, staging, MEMTAP_SINK_CHUNK) < 0)
                return -1;
        }
    }
    return 0;
}

static int put_chunk(uint32_t source, uint64_t watermark, const uint8_t *p, size_t n) {
    uint8_t header[MEMTAP_CHUNK_HEADER_MAX];
    size_t len = memtap_enc_chunk_header(header, source, watermark, n);
    if (collecting()) /* one item: the collector never sees half a chunk */
        return memtap_shm_put(MEMTAP_ITEM_CHUNK, header, len, p, n);
    return stage(header, len) < 0 || stage(p, n) < 0 ? -1 : 0;
}

/* Source 0's records as a CHUNK. Record lock and sink lock held. */
static int flush_source0(int final) {
    uint64_t watermark = final ? MEMTAP_WATERMARK_CLOSED
                               : 2 * __atomic_load_n(&memtap_order, __ATOMIC_SEQ_CST);
    if (!memtap_stream.len && watermark == source0_watermark)
        return 0;
    source0_watermark = watermark;
    int rc = put_chunk(0, watermark, memtap_stream.buf, memtap_stream.len);
    if (collecting()) {
        source0_base += memtap_stream.len;
        memtap_shm_source0_publish(source0_base, 0);
    }
    memtap_stream.len = 0;
    return rc;
}

void memtap_stream_publish(void) {
    if (collecting())
        memtap_shm_source0_publish(source0_base, memtap_stream.len);
}

int memtap_stream_open(int fd, const memtap_header_info_t *h, int *err) {
    memtap_sink_release(&sink);
    memtap_enc_reset(&memtap_stream);
    source0_key = source0_watermark = source0_base = 0;
    staged = 0;
    memtap_tbuf_reset_totals();
    if (collecting()) {
        memtap_shm_begin_image(memtap_image_seq + 1); /* the number memtap_begin_image gives */
        memtap_enc_header(&memtap_stream, h);
        int rc = memtap_shm_put(MEMTAP_ITEM_IMAGE, memtap_stream.buf, memtap_stream.len, NULL, 0);
        memtap_stream.len = 0;
        *err = rc < 0 ? EPIPE : 0;
        return rc;
    }
    if (memtap_sink_open(&sink, fd, memtap_stream_write, ++file_images, h->pid) < 0) {
        *err = sink.error;
        return -1;
    }
    /* the header is the LZ4 frame's first bytes, outside any chunk */
    memtap_enc_header(&memtap_stream, h);
    stage(memtap_stream.buf, memtap_stream.len);
    memtap_stream.len = 0;
    return 0;
}

/* Source 0's buffer is full: out it goes as a chunk. Record lock held. */
static int drain_source0(void) {
    memtap_lock(&sink_lock);
    int rc = flush_source0(0);
    memtap_unlock(&sink_lock);
    if (rc < 0)
        write_failed();
    return rc;
}

int memtap_stream_reserve(size_t n) {
    if (memtap_stream.cap - memtap_stream.len < n + MEMTAP_VARINT_MAX + 1 && drain_source0() < 0)
        return -1;
    if (!memtap_tracking())
        return -1;
    /* never back: after memtap_stream_stamp_last the key is already past the counter */
    uint64_t key = memtap_tbuf_read_key();
    if (key > source0_key)
        memtap_tbuf_stamp(&memtap_stream, &source0_key, key);
    return 0;
}

void memtap_stream_stamp_last(void) {
    memtap_tbuf_stamp(&memtap_stream, &source0_key, memtap_tbuf_read_key() + 1);
}

int memtap_stream_append(const uint8_t *p, size_t n) {
    if (memtap_stream_reserve(0) < 0)
        return -1;
    while (n > 0) {
        if (memtap_stream.len == memtap_stream.cap && drain_source0() < 0)
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

int memtap_stream_flush(int wait) {
    if (wait)
        memtap_lock(&sink_lock);
    else if (memtap_trylock(&sink_lock) != 0)
        return -1;
    int rc = flush_source0(0);
    if (memtap_tbuf_flush_all(0, put_chunk) < 0)
        rc = -1;
    if (!collecting()) {
        if (rc == 0 && staged) {
            rc = memtap_sink_put(&sink, staging, staged);
            staged = 0;
        }
        if (rc == 0)
            rc = memtap_sink_flush(&sink);
    }
    memtap_unlock(&sink_lock);
    if (rc < 0)
        write_failed();
    return rc;
}

void memtap_stream_register(memtap_tbuf_t *b, uint32_t index, uint32_t image) {
    memtap_lock(&sink_lock);
    memtap_tbuf_register(b, index, image);
    memtap_unlock(&sink_lock);
}

int memtap_stream_flush_own(memtap_tbuf_t *b) {
    memtap_lock(&sink_lock);
    /* Source 0 first (the THREAD and NODE records this buffer's records need), when its
     * lock is free: the lock order forbids waiting for it here. */
    int rc = 0;
    if (memtap_trylock(&memtap_stream_lock) == 0) {
        rc = flush_source0(0);
        memtap_stream_unlock();
    }
    if (rc == 0 && b->image)
        rc = memtap_tbuf_flush(b, 1, 0, put_chunk);
    if (!b->image) /* dropped by the end of an image: its records have nowhere to go */
        b->enc.len = 0;
    /* the others' watermarks move on too, so the reader need not hold this chunk long */
    if (rc == 0 && memtap_tbuf_flush_all(0, put_chunk) < 0)
        rc = -1;
    memtap_unlock(&sink_lock);
    if (rc < 0)
        write_failed();
    return rc;
}

void memtap_stream_thread_done(memtap_tbuf_t *b) {
    memtap_lock(&sink_lock);
    if (b->image) {
        if (memtap_tbuf_flush(b, 1, 1, put_chunk) < 0)
            write_failed();
        memtap_tbuf_unregister(b);
    }
    memtap_unlock(&sink_lock);
}

void memtap_stream_close_threads(uint64_t *allocations, uint64_t *frees) {
    memtap_lock(&sink_lock);
    memtap_tbuf_wait_idle(); /* memtap_image_closing is set: records under way finish */
    if (memtap_tbuf_flush_all(1, put_chunk) < 0)
        write_failed();
    memtap_tbuf_totals(allocations, frees);
    memtap_unlock(&sink_lock);
}

int memtap_stream_end(void) {
    memtap_lock(&sink_lock);
    int rc = flush_source0(1);
    if (collecting()) { /* the closing chunk of source 0 ends the image for the collector */
        memtap_unlock(&sink_lock);
        if (rc < 0)
            write_failed();
        return rc;
    }
    if (rc == 0 && staged)
        rc = memtap_sink_put(&sink, staging, staged);
    staged = 0;
    if (rc == 0)
        rc = memtap_sink_end(&sink);
    memtap_sink_release(&sink);
    memtap_unlock(&sink_lock);
    if (rc < 0)
        write_failed();
    return rc;
}

void memtap_stream_lock_sink(void) { memtap_lock(&sink_lock); }
void memtap_stream_unlock_sink(void) { memtap_unlock(&sink_lock); }

void memtap_stream_after_fork(void) {
    memtap_lock_reset(&memtap_stream_lock);
    memtap_lock_reset(&sink_lock);
    memtap_tbuf_after_fork();
    if (collecting()) { /* the parent's region: never written here (memtap_shm_forget) */
        memtap_stream.buf = NULL;
        memtap_stream.len = memtap_stream.cap = 0;
        return;
    }
    memtap_sink_release(&sink);
    close(sink.fd); /* the parent's file; its output buffer mapping is reused */
    file_images = 0;  /* the child's own file */
}
