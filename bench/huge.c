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
#include "record.h"
#include "sink.h"

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
static uint8_t buf[BUF];
static memtap_enc_t enc = {.buf = buf, .cap = BUF};

static void drain(size_t room) {
    if (enc.cap - enc.len >= room)
        return;
    if (memtap_sink_put(&sink, enc.buf, enc.len) < 0) {
        fprintf(stderr, "huge: write failed: %s\n", strerror(sink.error));
        exit(1);
    }
    enc.len = 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: huge OUT.memtap [EVENTS]\n");
        return 2;
    }
    uint64_t events = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000000ull;
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || memtap_sink_open(&sink, fd, NULL) < 0) {
        perror(argv[1]);
        return 1;
    }
    memtap_enc_reset(&enc);
    static const char cmd[] = "huge\0synthetic";
    memtap_header_info_t h = {0, (uint64_t)getpid(), 1, 1700000000000000000ull, 4096,
                              "/synthetic/huge", cmd, sizeof cmd, 2};
    memtap_enc_header(&enc, &h);
    memtap_enc_thread(&enc, 1, "huge");
    for (uint32_t id = 1; id <= STACKS; id++) { /* stacks of depth 1 to 20 */
        drain(MEMTAP_ENC_FIXED_MAX);
        uint32_t parent = id > 20 && id % 20 ? id - 1 : 0;
        memtap_enc_node(&enc, id, parent, 0x400000 + (uint64_t)id * 16);
    }
    static uint8_t live[SLOTS];
    uint64_t base = 0x7f0000000000ull;
    for (uint64_t e = 0; e < events; e++) {
        drain(2 * MEMTAP_ENC_FIXED_MAX);
        uint64_t r = next();
        uint32_t slot = (uint32_t)(r & (SLOTS - 1));
        uint64_t addr = base + (uint64_t)slot * 4096;
        if (live[slot]) {
            memtap_enc_free(&enc, addr);
            live[slot] = 0;
        } else {
            memtap_enc_alloc(&enc, MEMTAP_KIND_MALLOC, addr, 16 + ((r >> 16) & 4095),
                             1 + (uint32_t)((r >> 32) % STACKS));
            live[slot] = 1;
        }
        if ((e & 0xffffff) == 0)
            memtap_enc_time(&enc, e >> 20, 0);
    }
    drain(3 * MEMTAP_ENC_FIXED_MAX);
    memtap_enc_u64(&enc, MEMTAP_REC_EXIT, events >> 20);
    memtap_enc_trailer(&enc);
    drain(BUF);
    if (memtap_sink_end(&sink) < 0) {
        fprintf(stderr, "huge: write failed: %s\n", strerror(sink.error));
        return 1;
    }
    memtap_sink_release(&sink);
    close(fd);
    return 0;
}
