/* Writes a synthetic capture of N events (default 1 G) with the real encoder and LZ4 sink,
 * to check that the reader handles captures of that size with memory that follows live
 * blocks and stacks, not events: 65,536 live blocks at most, 10,000 stacks.
 * usage: huge OUT.memtap [EVENTS] */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memtap/format.h"
#include "output/record.h"
#include "output/sink.h"

#define SLOTS 65536
#define STACKS 10000
#define BUF (MEMTAP_SINK_CHUNK)

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) { /* xorshift64 */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static memtap_sink_t sink;
static uint8_t out[BUF + MEMTAP_CHUNK_HEADER_MAX];
static uint8_t src0_buf[BUF], thread_buf[BUF];
static memtap_enc_t src0 = {.buf = src0_buf, .cap = BUF}; /* source 0: the process's records */
static memtap_model_t thread_model; /* its records are written against it, as a thread's */
static memtap_enc_t thread = {.buf = thread_buf, .cap = BUF, .model = &thread_model}; /* source 1 */
static uint64_t order; /* the order counter: frees take a ticket, allocations read it */

static void put(const uint8_t *p, size_t n) {
    if (memtap_sink_put(&sink, p, n) < 0) {
        fprintf(stderr, "huge: write failed: %s\n", strerror(sink.error));
        exit(1);
    }
}

/* Writes what source `id` holds as a CHUNK, as the library does when a buffer fills. */
static void chunk(uint32_t id, memtap_enc_t *e, uint64_t watermark) {
    size_t n = memtap_enc_chunk_header(out, id, watermark, e->len);
    memcpy(out + n, e->buf, e->len);
    put(out, n + e->len);
    e->len = 0;
}

static void room(size_t n) {
    if (thread.cap - thread.len >= n)
        return;
    chunk(1, &thread, 2 * order);
    chunk(0, &src0, 2 * order); /* empty: moves the process's watermark on */
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: huge OUT.memtap [EVENTS]\n");
        return 2;
    }
    uint64_t events = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000000ull;
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || memtap_sink_open(&sink, fd, NULL, 1, (uint64_t)getpid()) < 0) {
        perror(argv[1]);
        return 1;
    }
    memtap_enc_reset(&src0);
    memtap_enc_reset(&thread);
    static const char cmd[] = "huge\0synthetic";
    memtap_header_info_t h = {0, (uint64_t)getpid(), 1, 1700000000000000000ull, 4096,
                              "/synthetic/huge", cmd, sizeof cmd, 0};
    memtap_enc_header(&src0, &h);
    put(src0.buf, src0.len); /* the header is outside any chunk */
    src0.len = 0;
    memtap_enc_thread(&src0, 1, "huge");
    for (uint32_t id = 1; id <= STACKS; id++) { /* stacks of depth 1 to 20 */
        uint32_t parent = id > 20 && id % 20 ? id - 1 : 0;
        memtap_enc_node(&src0, id, parent, 0x400000 + (uint64_t)id * 16);
    }
    chunk(0, &src0, 0);
    static uint8_t live[SLOTS];
    uint64_t base = 0x7f0000000000ull;
    for (uint64_t e = 0; e < events; e++) {
        room(2 * MEMTAP_ENC_FIXED_MAX);
        uint64_t r = next();
        uint32_t slot = (uint32_t)(r & (SLOTS - 1));
        uint64_t addr = base + (uint64_t)slot * 4096;
        if (live[slot]) { /* ticket `order`: the thread's key is always up to date */
            memtap_enc_free(&thread, addr);
            order++;
            live[slot] = 0;
        } else {
            memtap_enc_alloc(&thread, MEMTAP_KIND_MALLOC, addr, 16 + ((r >> 16) & 4095),
                             1 + (uint32_t)((r >> 32) % STACKS));
            live[slot] = 1;
        }
    }
    chunk(1, &thread, MEMTAP_WATERMARK_CLOSED);
    memtap_enc_skip(&src0, order + 1); /* after every record of the thread */
    memtap_enc_u64(&src0, MEMTAP_REC_EXIT, events >> 20);
    src0.allocations = thread.allocations;
    src0.frees = thread.frees;
    memtap_enc_trailer(&src0);
    chunk(0, &src0, MEMTAP_WATERMARK_CLOSED);
    if (memtap_sink_end(&sink) < 0) {
        fprintf(stderr, "huge: write failed: %s\n", strerror(sink.error));
        return 1;
    }
    memtap_sink_release(&sink);
    close(fd);
    return 0;
}
