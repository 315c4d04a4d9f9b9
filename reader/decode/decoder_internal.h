/* What the decoder's files share: its state, the cursor over its window, the varint readers,
 * and what each file gives the others. Internal to reader/decode.
 *   decoder.c  the driver: the window over the process's images, their ends, memtap_decoder_next
 *   records.c  the header and the process's records (source 0); the image's counts
 *   order.c    chunks into the merge, records out of it in position order, fast or not
 * May call: decode/batch.h, decode/merge.h, include/memtap. */
#ifndef MEMTAP_READER_DECODER_INTERNAL_H
#define MEMTAP_READER_DECODER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "decode/batch.h"
#include "decode/decoder.h"
#include "decode/merge.h"

#define WIN_SIZE (1u << 20) /* larger than the largest valid record (~140 KiB) */
#define MAX_BLOCK (1ull << 57) /* 5-level paging's address space: no block is larger */

enum { EXPECT_HEADER, IN_IMAGE, AFTER_TRAILER };
enum { PARSE_OK = 0, PARSE_MORE = 1, PARSE_BAD = 2 };

struct memtap_decoder {
    memtap_container_t *own; /* the container when the decoder opened it (by path) */
    const memtap_container_t *c;
    uint32_t process;    /* the process read */
    memtap_source_t src;
    uint8_t *win;
    size_t pos, len;
    uint64_t win_offset; /* offset of win[0] in the process's images, one after another */
    int image_end;       /* the window holds the rest of the current image, which ended:
                            MEMTAP_IMAGE_WHOLE or MEMTAP_IMAGE_CUT (source.h) */
    int eof;             /* no image is left */
    int incomplete;      /* an image was cut */
    int state;
    int done;
    unsigned images;     /* images begun (headers read) */
    uint64_t last_frame; /* source 0's delta state: the last NODE's instruction pointer */
    uint32_t nodes, threads;
    uint64_t allocations, frees;
    int exited;                    /* the image's EXIT was read */
    uint64_t leak_blocks, leak_classified; /* its LEAK_SCAN's blocks, classes read so far */
    memtap_merge_t merge;   /* the sources' records waiting to be put in order */
    int merge_closed;       /* the image's chunks are all read */
    uint32_t merged_thread; /* thread of the last record released (0: none yet) */
    uint32_t fast_id;       /* that thread's next records below fast_limit need no merge */
    uint64_t fast_limit;
    memtap_seg_t segs[MEMTAP_MAX_SEGMENTS];
    char error[512];
};

/* A cursor over the window; the first problem met is kept in status/why. */
typedef struct {
    const uint8_t *p, *end;
    int status;
    const char *why;
} cursor_t;

/* records.c */
uint64_t dec_get_varint(cursor_t *c, const char *what);
const uint8_t *dec_get_bytes(cursor_t *c, size_t *len, size_t max, const char *what);
void dec_bad(cursor_t *c, const char *why);
/* The header at the cursor into ev (a version other than MEMTAP_FORMAT_VERSION: ev's
 * version set, the rest not read). */
void dec_parse_header(cursor_t *c, memtap_event_t *ev);
/* One record of the process's (source 0; not a SKIP) at the cursor into ev. */
void dec_parse_process_record(memtap_decoder_t *d, cursor_t *c, memtap_event_t *ev);
/* Applies a released event to the image's state (counts, delta state); checks the trailer.
 * Returns MEMTAP_OK or an error (recorded). */
int dec_commit(memtap_decoder_t *d, memtap_event_t *ev);

/* decoder.c: records the error "corrupt capture at byte N: ..." and returns code. */
int dec_fail(memtap_decoder_t *d, int code, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* order.c */
void dec_parse_chunk(memtap_decoder_t *d, cursor_t *c);
/* The next record in position order: 1 with ev filled, 0 when more chunks must be read
 * first (or nothing is left), or an error code (negative). */
int dec_merged_event(memtap_decoder_t *d, memtap_event_t *ev);
/* The fast paths of memtap_decoder_fill: up to max ALLOC, FREE and MUNMAP events straight
 * into out; each returns how many (0: the general path must go on). */
size_t dec_fast_run(memtap_decoder_t *d, memtap_bev_t *out, size_t max);
size_t dec_fast_ahead(memtap_decoder_t *d, memtap_bev_t *out, size_t max);

/* A varint from a window known to hold at least 10 more bytes. Returns 0 when it is longer
 * than 10 bytes or overflows (the general path then reports it). */
static inline int fast_varint(const uint8_t **p, uint64_t *v) {
    const uint8_t *q = *p;
    uint64_t b = q[0];
    if (b < 0x80) { /* most sizes and nodes */
        *p = q + 1;
        *v = b;
        return 1;
    }
    uint64_t r = b & 0x7f;
    b = q[1];
    r |= (b & 0x7f) << 7;
    if (b < 0x80) {
        *p = q + 2;
        *v = r;
        return 1;
    }
    b = q[2];
    r |= (b & 0x7f) << 14;
    if (b < 0x80) { /* most address deltas */
        *p = q + 3;
        *v = r;
        return 1;
    }
    for (unsigned i = 3, shift = 21; i < 10; i++, shift += 7) {
        b = q[i];
        if (shift == 63 && b > 1)
            return 0;
        r |= (b & 0x7f) << shift;
        if (b < 0x80) {
            *p = q + i + 1;
            *v = r;
            return 1;
        }
    }
    return 0;
}

/* A varint read without a branch on its length when it has at most 4 bytes (28 bits: most
 * sizes, nodes and address deltas), since the lengths of a capture's fields vary at random
 * and mispredicted branches cost the fast path more than these few instructions; longer
 * ones go through fast_varint. 1 with *v, 0 when fast_varint refuses it. Reads 4 bytes at
 * *p, and up to 10 for a longer one. */
static inline int fast_varint4(const uint8_t **p, uint64_t *v) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t x;
    memcpy(&x, *p, sizeof x);
    uint32_t stop = ~x & 0x80808080u; /* the high bit of each last-byte candidate */
    if (__builtin_expect(!stop, 0))
        return fast_varint(p, v);
    x &= (stop ^ (stop - 1)) & 0x7f7f7f7fu; /* the varint's bytes, payload only */
    x = (x & 0x007f007fu) | (x & 0x7f007f00u) >> 1;
    x = (x & 0x00003fffu) | (x & 0x3fff0000u) >> 2;
    *p += ((unsigned)__builtin_ctz(stop) + 1) >> 3;
    *v = x;
    return 1;
#else
    return fast_varint(p, v);
#endif
}

#endif
