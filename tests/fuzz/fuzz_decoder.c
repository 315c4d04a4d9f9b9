/* libFuzzer target for the capture's container index, decoder and replay: any bytes, as a
 * capture file, must index and decode to an answer or a clean error, without crash, hang
 * or unbounded memory. The first byte says how the rest makes a file (its value modulo 3):
 *   0  the file as is;
 *   1  a record stream: wrapped in one piece (FIRST | LAST | ROOT) and a valid LZ4 frame,
 *      so mutations reach the record parser instead of failing LZ4 checksums;
 *   2  pieces: each u8 stream, u8 flags (bit 7: its LZ4 frame without its end mark), u8 pid,
 *      u8 status, u16le n, then n bytes of content, made into a piece header and a valid
 *      LZ4 frame, so mutations reach the index's rules and the linking of processes.
 * Every process of the capture (up to 16) is decoded event by event and in batches. Build
 * and run: make fuzz. */
#define _GNU_SOURCE
#include <lz4frame.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/errors.h"
#include "decode/batch.h"
#include "container/container.h"
#include "decode/decoder.h"
#include "memtap/container.h"
#include "replay/replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FILE_CAP (1 << 18)
#define MAX_PROCESSES 16

static uint8_t file[FILE_CAP];

/* A piece: header, then content as one LZ4 frame (without its end mark if cut). Returns the
 * bytes written at out, 0 when there is no room. */
static size_t piece(uint8_t *out, size_t room, uint64_t stream, unsigned flags, uint64_t pid,
                    uint64_t status, const uint8_t *content, size_t n, int cut) {
    uint8_t h[MEMTAP_PIECE_MAX_HEADER];
    size_t hn = memtap_piece_header(h, stream, flags, pid, status);
    if (room < hn + LZ4F_compressFrameBound(n, NULL))
        return 0;
    memcpy(out, h, hn);
    size_t z = LZ4F_compressFrame(out + hn, room - hn, content, n, NULL);
    if (LZ4F_isError(z))
        return 0;
    /* the end mark (4 bytes, no content checksum by default) dropped: a cut LZ4 frame */
    return hn + z - (cut && z >= 4 ? 4 : 0);
}

/* The file the input stands for; its length. */
static size_t make_file(const uint8_t *data, size_t size, const uint8_t **out) {
    unsigned mode = data[0] % 3;
    data++;
    size--;
    *out = file;
    if (mode == 0) {
        *out = data;
        return size;
    }
    if (mode == 1)
        return piece(file, sizeof file, 1, 0xb, 1000, 0, data, size, 0);
    size_t len = 0;
    while (size >= 6) {
        size_t n = (size_t)data[4] | (size_t)data[5] << 8;
        if (n > size - 6)
            n = size - 6;
        size_t k = piece(file + len, sizeof file - len, data[0], data[1] & 0x7f, data[2], data[3],
                         data + 6, n, data[1] >> 7);
        if (!k)
            break;
        len += k;
        data += 6 + n;
        size -= 6 + n;
    }
    return len;
}

/* Process i of c, event by event or in batches, into a replay thrown away. */
static void decode(const memtap_container_t *c, uint32_t i, int batched, memtap_batch_t *batch) {
    memtap_replay_t r;
    memtap_decoder_t *d = NULL;
    if (memtap_replay_init(&r) == 0 && memtap_decoder_open_process(&d, c, i) == MEMTAP_OK) {
        memtap_event_t ev;
        if (batched)
            while (memtap_decoder_fill(d, batch) == MEMTAP_OK &&
                   memtap_replay_batch(&r, batch) == 0 && !batch->end)
                ;
        else
            while (memtap_decoder_next(d, &ev) == MEMTAP_OK && memtap_replay_event(&r, &ev) == 0 &&
                   ev.type != MEMTAP_EV_END)
                ;
        memtap_replay_finish(&r);
    }
    memtap_decoder_free(d);
    memtap_replay_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    static memtap_batch_t *batch;
    if (fd < 0) {
        fd = memfd_create("capture", 0);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (size == 0 || (!batch && !(batch = memtap_batch_new())))
        return 0;
    const uint8_t *f;
    size_t n = make_file(data, size, &f);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, f, n, 0) != (ssize_t)n)
        return 0;
    memtap_container_t *c;
    if (memtap_container_open(&c, path) == MEMTAP_OK)
        for (uint32_t i = 0; i < c->processes.n && i < MAX_PROCESSES; i++)
            for (int batched = 0; batched < 2; batched++)
                decode(c, i, batched, batch);
    memtap_container_free(c);
    return 0;
}
