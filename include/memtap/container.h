/* The capture file's container (docs/format.md, section 1): a sequence of pieces, each an
 * LZ4 skippable frame that says whose bytes follow, then one LZ4 frame holding them.
 * `lz4 -dc` skips the LZ4 skippable frames and prints every piece's bytes in file order.
 *
 * A stream is the records of one process image (its header, then CHUNK records). Its
 * bytes are the concatenation of its pieces' LZ4 frames, in file order; the pieces of
 * several streams interleave when processes run at the same time.
 *
 * Piece header: u32le MEMTAP_PIECE_MAGIC, u32le n (the payload's length), then the payload:
 * "MTAP", varint stream id (from 1, unique in the file), varint flags (below), varint pid,
 * varint status (0, or the signal that ended the process when MEMTAP_PIECE_KILLED), and
 * nothing after them. The rules a stream's pieces follow (FIRST, then LAST; one pid; ROOT on
 * all or none; KILLED only with LAST) are in docs/format.md 1.2; reader/container/container.c
 * checks them. */
#ifndef MEMTAP_CONTAINER_H
#define MEMTAP_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

#include "memtap/varint.h"

#define MEMTAP_PIECE_MAGIC 0x184D2A5Eu /* in LZ4's skippable range 0x184D2A50..0x184D2A5F */
#define MEMTAP_PIECE_TAG "MTAP"
#define MEMTAP_PIECE_MAX_PAYLOAD (4 + 4 * MEMTAP_VARINT_MAX) /* readers refuse longer ones */
#define MEMTAP_PIECE_MAX_HEADER (8 + MEMTAP_PIECE_MAX_PAYLOAD)
#define MEMTAP_PIECE_MAX_STATUS 255u /* a signal number */

enum memtap_piece_flags {
    MEMTAP_PIECE_FIRST = 0x1,  /* the stream's first piece: its bytes start with a header */
    MEMTAP_PIECE_LAST = 0x2,   /* the stream's last piece */
    MEMTAP_PIECE_KILLED = 0x4, /* last piece of an image whose process died in it */
    MEMTAP_PIECE_ROOT = 0x8,   /* the stream belongs to the process memtap run started */
};

/* Writes a piece header into out (MEMTAP_PIECE_MAX_HEADER bytes of room); returns its
 * length. */
static inline size_t memtap_piece_header(uint8_t *out, uint64_t stream, unsigned flags,
                                         uint64_t pid, uint64_t status) {
    uint8_t *p = out + 8;
    for (int i = 0; i < 4; i++)
        *p++ = (uint8_t)MEMTAP_PIECE_TAG[i];
    p += memtap_varint_put(p, stream);
    p += memtap_varint_put(p, flags);
    p += memtap_varint_put(p, pid);
    p += memtap_varint_put(p, status);
    uint32_t n = (uint32_t)(p - out - 8), magic = MEMTAP_PIECE_MAGIC;
    for (int i = 0; i < 4; i++) {
        out[i] = (uint8_t)(magic >> (8 * i));
        out[4 + i] = (uint8_t)(n >> (8 * i));
    }
    return (size_t)(p - out);
}

#endif
