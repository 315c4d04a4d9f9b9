/* The LZ4 frame sink: compresses the record stream and writes it to the capture file.
 * One LZ4 frame per image. A write error is sticky: once set, nothing more is written.
 * Writes go through a replaceable function pointer so tests can inject a full disk. */
#ifndef MEMTAP_PRELOAD_SINK_H
#define MEMTAP_PRELOAD_SINK_H

#include <lz4frame.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MEMTAP_SINK_CHUNK (64 * 1024) /* largest input to memtap_sink_put */

typedef ssize_t (*memtap_write_fn)(int fd, const void *buf, size_t len);

typedef struct {
    int fd;
    dev_t dev; /* identity of the file at open: a program that closed our descriptor and */
    ino_t ino; /* reused its number must never receive our bytes */
    LZ4F_cctx *cctx;
    uint8_t *out;
    size_t out_cap;
    memtap_write_fn write;
    int error; /* sticky errno of the first failure, 0 while healthy */
} memtap_sink_t;

/* Takes over fd and writes a piece header (include/memtap/container.h: stream `stream` of
 * process pid, the whole stream in this one piece) and an LZ4 frame header. Returns 0, or -1
 * with sink->error set. */
int memtap_sink_open(memtap_sink_t *s, int fd, memtap_write_fn write_fn, uint64_t stream,
                     uint64_t pid);

/* Compresses len (<= MEMTAP_SINK_CHUNK) bytes and writes whatever blocks are complete. */
int memtap_sink_put(memtap_sink_t *s, const void *data, size_t len);

/* Writes out everything given so far as a (possibly short) block. */
int memtap_sink_flush(memtap_sink_t *s);

/* Ends the LZ4 frame (end mark and content checksum). The fd stays open. */
int memtap_sink_end(memtap_sink_t *s);

/* Releases the compression context and buffer; does not close the fd. */
void memtap_sink_release(memtap_sink_t *s);

#endif
