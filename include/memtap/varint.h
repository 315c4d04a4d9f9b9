/* LEB128 varints, zigzag signed deltas and a hash mixer, shared by both halves.
 * Header-only and allocation-free: safe to call from inside malloc. */
#ifndef MEMTAP_VARINT_H
#define MEMTAP_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define MEMTAP_VARINT_MAX 10 /* bytes a 64-bit varint may take */

/* Writes v as LEB128 (7 bits a byte, low group first, high bit = more) at out, which must
 * have MEMTAP_VARINT_MAX bytes of room. Returns the number of bytes written (1..10). */
static inline size_t memtap_varint_put(uint8_t *out, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

/* Reads a varint from [*p, end). On success advances *p and returns 1; returns 0 when the
 * input ends inside the varint, -1 when it is longer than 10 bytes or overflows 64 bits. */
static inline int memtap_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    const uint8_t *q = *p;
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (q >= end)
            return 0;
        uint8_t b = *q++;
        if (shift == 63 && b > 1)
            return -1;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *p = q;
            *v = r;
            return 1;
        }
    }
    return -1;
}

/* Zigzag maps signed deltas to small unsigned numbers: 0,-1,1,-2 -> 0,1,2,3. */
static inline uint64_t memtap_zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t memtap_unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

/* Mixes two 64-bit keys into a well-spread hash (for open addressing: use the low bits). */
static inline uint64_t memtap_hash2(uint64_t a, uint64_t b) {
    uint64_t h = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull) * 0xC2B2AE3D27D4EB4Full;
    return h ^ (h >> 31);
}

#endif
