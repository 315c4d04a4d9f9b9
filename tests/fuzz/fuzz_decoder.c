/* libFuzzer target for the capture decoder and replay: any bytes, as a capture file, must
 * decode to an answer or a clean error, without crash, hang or unbounded memory.
 * An input whose first byte is odd is a record stream: the harness wraps the rest in a
 * valid LZ4 frame, so mutations reach the record parser instead of failing LZ4 checksums.
 * An even first byte: the rest is the file as is. Each input is decoded event by event and
 * in batches. Build and run: make fuzz. */
#define _GNU_SOURCE
#include <lz4frame.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "decode/batch.h"
#include "decode/decoder.h"
#include "common/errors.h"
#include "replay/replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("capture", 0);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (size == 0)
        return 0;
    static uint8_t lz4_file[1 << 18]; /* the stream wrapped in one LZ4 frame */
    const uint8_t *file = data + 1;
    size_t n = size - 1;
    if (data[0] & 1) {
        n = LZ4F_compressFrame(lz4_file, sizeof lz4_file, data + 1, size - 1, NULL);
        if (LZ4F_isError(n))
            return 0;
        file = lz4_file;
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, file, n, 0) != (ssize_t)n)
        return 0;
    /* event by event, then as the reports read: in batches (their fast paths) */
    static memtap_batch_t *batch;
    if (!batch && !(batch = memtap_batch_new()))
        return 0;
    for (int batched = 0; batched < 2; batched++) {
        memtap_replay_t r;
        memtap_decoder_t *d;
        if (memtap_replay_init(&r) == 0 && memtap_decoder_open(&d, path) == MEMTAP_OK) {
            memtap_event_t ev;
            if (batched)
                while (memtap_decoder_fill(d, batch) == MEMTAP_OK &&
                       memtap_replay_batch(&r, batch) == 0 && !batch->end)
                    ;
            else
                while (memtap_decoder_next(d, &ev) == MEMTAP_OK &&
                       memtap_replay_event(&r, &ev) == 0 && ev.type != MEMTAP_EV_END)
                    ;
            memtap_replay_finish(&r);
            memtap_decoder_free(d);
        } else {
            memtap_decoder_free(d);
        }
        memtap_replay_free(&r);
    }
    return 0;
}
