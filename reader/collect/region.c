/* A process's shared region: draining its ring, recognising images, and taking a dead
 * process's unflushed records from its buffers (see region.h). */
#include "collect/region.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "memtap/format.h"
#include "memtap/varint.h"

#define MAX_SOURCES (1u << 20)

int memtap_region_map(memtap_region_t *r, int fd, pid_t pid, int root) {
    memset(r, 0, sizeof *r);
    r->pid = pid;
    r->root = root;
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != MEMTAP_SHM_SIZE) {
        snprintf(r->error, sizeof r->error, "the shared region has the wrong size");
        return -1;
    }
    void *p = mmap(NULL, MEMTAP_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        snprintf(r->error, sizeof r->error, "cannot map the shared region: %s", strerror(errno));
        return -1;
    }
    r->base = p;
    r->ctl = p;
    if (r->ctl->magic != MEMTAP_SHM_MAGIC || r->ctl->version != MEMTAP_SHM_VERSION ||
        r->ctl->size != MEMTAP_SHM_SIZE) {
        snprintf(r->error, sizeof r->error, "the shared region is not memtap's (version %u)",
                 r->ctl->version);
        munmap(p, MEMTAP_SHM_SIZE);
        r->base = NULL;
        return -1;
    }
    r->scratch = malloc(MEMTAP_ITEM_MAX);
    if (!r->scratch) {
        snprintf(r->error, sizeof r->error, "out of memory");
        munmap(p, MEMTAP_SHM_SIZE);
        r->base = NULL;
        return -1;
    }
    return 0;
}

void memtap_region_free(memtap_region_t *r) {
    if (r->base)
        munmap(r->base, MEMTAP_SHM_SIZE);
    if (r->stream_open)
        memtap_piece_stream_free(&r->stream);
    free(r->received);
    free(r->scratch);
    memset(r, 0, sizeof *r);
}

static int broke(memtap_region_t *r, const char *why) {
    snprintf(r->error, sizeof r->error, "%s", why);
    r->broken = 1;
    return -1;
}

/* Copies n ring bytes from ring position pos into dst (the ring wraps). */
static void ring_copy(const memtap_region_t *r, uint64_t pos, uint8_t *dst, size_t n) {
    const uint8_t *ring = r->base + MEMTAP_SHM_RING_OFFSET;
    size_t at = (size_t)(pos & (MEMTAP_SHM_RING_SIZE - 1));
    size_t first = MEMTAP_SHM_RING_SIZE - at;
    first = first < n ? first : n;
    memcpy(dst, ring + at, first);
    memcpy(dst + first, ring, n - first);
}

static int count_received(memtap_region_t *r, uint32_t source, uint64_t n) {
    if (source >= r->nreceived) {
        uint32_t want = r->nreceived ? r->nreceived : 64;
        while (want <= source)
            want *= 2;
        uint64_t *p = realloc(r->received, want * sizeof *p);
        if (!p)
            return -1;
        memset(p + r->nreceived, 0, (want - r->nreceived) * sizeof *p);
        r->received = p;
        r->nreceived = want;
    }
    r->received[source] += n;
    return 0;
}

static void end_image(memtap_region_t *r, memtap_piece_file_t *f, int killed, int status) {
    memtap_piece_flush(f, &r->stream, 1, killed, status);
    memtap_piece_stream_free(&r->stream);
    r->stream_open = 0;
}

static int start_image(memtap_region_t *r, memtap_piece_file_t *f) {
    if (r->stream_open) /* the last one never closed: a writer bug, kept as incomplete */
        end_image(r, f, 1, 0);
    if (memtap_piece_stream_open(f, &r->stream, (uint64_t)r->pid, r->root) < 0)
        return broke(r, "out of memory");
    r->stream_open = 1;
    /* the writer numbers an image before its IMAGE item goes into the ring */
    r->image = __atomic_load_n(&r->ctl->image, __ATOMIC_ACQUIRE);
    if (r->received)
        memset(r->received, 0, r->nreceived * sizeof *r->received);
    return 0;
}

/* A CHUNK item: counts its source's bytes; source 0's closing chunk ends the image. */
static int take_chunk(memtap_region_t *r, memtap_piece_file_t *f, const uint8_t *p, size_t n) {
    const uint8_t *q = p + 1, *end = p + n;
    uint64_t source, watermark, len;
    if (!r->stream_open || n < 4 || p[0] != MEMTAP_REC_CHUNK ||
        memtap_varint_get(&q, end, &source) != 1 || memtap_varint_get(&q, end, &watermark) != 1 ||
        memtap_varint_get(&q, end, &len) != 1 || len != (uint64_t)(end - q) ||
        source >= MAX_SOURCES)
        return broke(r, "a CHUNK item in the ring is malformed");
    if (count_received(r, (uint32_t)source, len) < 0)
        return broke(r, "out of memory");
    memtap_piece_put(f, &r->stream, p, n);
    if (source == 0 && watermark == MEMTAP_WATERMARK_CLOSED)
        end_image(r, f, 0, 0);
    return 0;
}

long memtap_region_drain(memtap_region_t *r, memtap_piece_file_t *f) {
    if (r->broken)
        return -1;
    uint64_t head = __atomic_load_n(&r->ctl->ring_head, __ATOMIC_ACQUIRE);
    uint64_t tail = r->ctl->ring_tail, start = tail;
    if (head - tail > MEMTAP_SHM_RING_SIZE)
        return broke(r, "the ring's positions are inconsistent");
    while (tail != head) {
        uint8_t h[MEMTAP_ITEM_HEADER_LEN];
        if (head - tail < sizeof h)
            return broke(r, "an item in the ring is cut short");
        ring_copy(r, tail, h, sizeof h);
        uint32_t len = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
                       (uint32_t)h[3] << 24;
        if (len > MEMTAP_ITEM_MAX || head - tail - sizeof h < len)
            return broke(r, "an item in the ring is longer than what was written");
        ring_copy(r, tail + sizeof h, r->scratch, len);
        int rc = 0;
        if (h[4] == MEMTAP_ITEM_IMAGE) {
            rc = start_image(r, f);
            if (rc == 0)
                memtap_piece_put(f, &r->stream, r->scratch, len);
        } else if (h[4] == MEMTAP_ITEM_CHUNK) {
            rc = take_chunk(r, f, r->scratch, len);
        } else {
            rc = broke(r, "an item in the ring has an unknown kind");
        }
        if (rc < 0)
            return -1;
        tail += sizeof h + len;
        /* the room is given back item by item: a writer waiting for it goes on sooner */
        __atomic_store_n(&r->ctl->ring_tail, tail, __ATOMIC_RELEASE);
    }
    return (long)(tail - start);
}

/* A closing CHUNK of source with the bytes p[0..n) (nothing when n == 0). */
static void put_closing_chunk(memtap_region_t *r, memtap_piece_file_t *f, uint32_t source,
                              const uint8_t *p, size_t n) {
    if (!n)
        return;
    uint8_t h[1 + 3 * MEMTAP_VARINT_MAX];
    size_t k = 0;
    h[k++] = MEMTAP_REC_CHUNK;
    k += memtap_varint_put(h + k, source);
    k += memtap_varint_put(h + k, MEMTAP_WATERMARK_CLOSED);
    k += memtap_varint_put(h + k, n);
    memtap_piece_put(f, &r->stream, h, k);
    memtap_piece_put(f, &r->stream, p, n);
}

/* The bytes of a buffer not yet in a CHUNK: [received - base, len). */
static void take_unflushed(memtap_region_t *r, memtap_piece_file_t *f, uint32_t source,
                           const uint8_t *data, uint64_t base, uint64_t len, uint64_t cap) {
    uint64_t got = source < r->nreceived ? r->received[source] : 0;
    if (len > cap || got < base || got - base >= len)
        return; /* nothing pending, or a buffer that makes no sense: taken as empty */
    put_closing_chunk(r, f, source, data + (got - base), (size_t)(len - (got - base)));
}

void memtap_region_finish(memtap_region_t *r, memtap_piece_file_t *f, int status) {
    if (!r->broken)
        memtap_region_drain(r, f);
    if (!r->stream_open)
        return;
    const memtap_shm_control_t *c = r->ctl;
    uint32_t image = __atomic_load_n(&c->image, __ATOMIC_ACQUIRE);
    if (!r->broken && image == r->image) {
        take_unflushed(r, f, 0, r->base + MEMTAP_SHM_SOURCE0_OFFSET, c->source0_base,
                       __atomic_load_n(&c->source0_len, __ATOMIC_ACQUIRE),
                       MEMTAP_SHM_SOURCE0_SIZE);
        uint64_t slot_size = c->slot_size, data_at = c->slot_data_offset;
        uint64_t room = MEMTAP_SHM_LIVE_OFFSET - MEMTAP_SHM_SLOTS_OFFSET;
        uint64_t slots = __atomic_load_n(&c->slots_used, __ATOMIC_ACQUIRE);
        if (slot_size >= sizeof(memtap_shm_slot_t) && data_at >= sizeof(memtap_shm_slot_t) &&
            data_at < slot_size && slots <= room / slot_size) {
            for (uint64_t i = 0; i < slots; i++) {
                const uint8_t *at = r->base + MEMTAP_SHM_SLOTS_OFFSET + i * slot_size;
                const memtap_shm_slot_t *s = (const memtap_shm_slot_t *)at;
                if (s->image != image || s->source == 0 || s->source >= MAX_SOURCES)
                    continue;
                uint64_t committed = __atomic_load_n(&s->committed, __ATOMIC_ACQUIRE);
                take_unflushed(r, f, s->source, at + data_at, s->base, (uint32_t)committed,
                               slot_size - data_at);
            }
        }
    }
    end_image(r, f, 1, status);
}
