/* Capture source: one process's records, decompressed: its images' streams in order, each
 * stream its pieces' LZ4 frames in file order (container.h says where they are); everyone
 * else's pieces are skipped by seeking, never decompressed. Says where each image ends,
 * and whether it ended whole. May call: container.h, liblz4's LZ4F API. */
#ifndef MEMTAP_READER_SOURCE_H
#define MEMTAP_READER_SOURCE_H

#include <lz4frame.h>
#include <stdint.h>

#include "common/errors.h"
#include "container/container.h"

/* How an image ends (memtap_source_read's *image_end). */
enum {
    MEMTAP_IMAGE_GOES_ON = 0,
    MEMTAP_IMAGE_WHOLE = 1, /* its LAST piece read to its LZ4 frame's end mark */
    MEMTAP_IMAGE_CUT = 2,   /* killed (a KILLED last piece), or its data ends (file cut) */
};

typedef struct {
    const memtap_container_t *c;
    uint32_t stream; /* the image being read (MEMTAP_NONE: all read) */
    uint32_t piece;  /* its piece being read (MEMTAP_NONE: its pieces are all read) */
    int in_frame;    /* the piece's LZ4 frame has begun */
    LZ4F_dctx *dctx;
    uint8_t *in; /* compressed input: the file's bytes [in_at, in_at + in_len) */
    size_t in_pos, in_len, in_cap;
    uint64_t in_at;
    size_t hint;     /* input LZ4 expects next (0: unknown) */
    char error[256]; /* message when a call returned MEMTAP_ERR_CORRUPT / _IO */
} memtap_source_t;

/* Opens process `process` of c (which must outlive the source) for reading. Returns
 * MEMTAP_OK, or MEMTAP_ERR_NOMEM with src->error set. */
int memtap_source_open(memtap_source_t *src, const memtap_container_t *c, uint32_t process);
void memtap_source_close(memtap_source_t *src);

/* Decompresses up to cap bytes of the current image into dst; *n gets the count. Stops at
 * the image's end: *image_end is then MEMTAP_IMAGE_WHOLE or MEMTAP_IMAGE_CUT, and the next
 * call starts the next image. *n == 0 with MEMTAP_IMAGE_GOES_ON: no image is left.
 * Returns MEMTAP_OK, MEMTAP_ERR_CORRUPT (bad LZ4 data) or MEMTAP_ERR_IO. */
int memtap_source_read(memtap_source_t *src, uint8_t *dst, size_t cap, size_t *n, int *image_end);

/* The file offset reached, for progress lines. */
static inline uint64_t memtap_source_offset(const memtap_source_t *src) {
    return src->in_at + src->in_pos;
}

#endif
