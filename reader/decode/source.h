/* Capture source: reads a capture file and decompresses it into a byte stream, one image
 * (one LZ4 frame) at a time. Knows the file size and how far it has read, for progress
 * lines. May call: liblz4's LZ4F API, stdio. */
#ifndef MEMTAP_READER_SOURCE_H
#define MEMTAP_READER_SOURCE_H

#include <lz4frame.h>
#include <stdint.h>
#include <stdio.h>

#include "common/errors.h"

typedef struct {
    FILE *file;
    const char *path;
    LZ4F_dctx *dctx;
    uint8_t *in;      /* compressed input buffer */
    size_t in_pos, in_len;
    uint64_t file_pos; /* file bytes handed to the decompressor */
    uint64_t file_size;
    size_t hint;       /* input LZ4 expects next (0: unknown) */
    int eof;           /* the file has no more bytes */
    int in_image;      /* inside an image's LZ4 frame (its header seen, its end not yet) */
    char error[256];   /* message when a call returned MEMTAP_ERR_CORRUPT / _IO */
} memtap_source_t;

/* Opens path. Returns MEMTAP_OK, or MEMTAP_ERR_IO with src->error set. */
int memtap_source_open(memtap_source_t *src, const char *path);
void memtap_source_close(memtap_source_t *src);

/* Decompresses up to cap bytes of the current image into dst; *n gets the count. Stops at
 * the end of its LZ4 frame: *image_end is then 1 and the next call starts the next image.
 * *n == 0 with *image_end == 0 means the file ended: inside an image when src->in_image.
 * Returns MEMTAP_OK, MEMTAP_ERR_CORRUPT (bad LZ4 data) or MEMTAP_ERR_IO. */
int memtap_source_read(memtap_source_t *src, uint8_t *dst, size_t cap, size_t *n, int *image_end);

#endif
