/* Varint and zigzag encoding. */
#include <criterion/criterion.h>

#include "decode/decoder_internal.h"
#include "memtap/varint.h"

Test(varint, round_trips_edges) {
    const uint64_t values[] = {0, 1, 127, 128, 255, 16383, 16384, (1ull << 32) - 1, 1ull << 32,
                               (1ull << 63) - 1, 1ull << 63, UINT64_MAX};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        uint8_t buf[MEMTAP_VARINT_MAX];
        size_t n = memtap_varint_put(buf, values[i]);
        const uint8_t *p = buf;
        uint64_t v = 0;
        cr_assert_eq(memtap_varint_get(&p, buf + n, &v), 1);
        cr_assert_eq(v, values[i]);
        cr_assert_eq(p, buf + n);
    }
}

Test(varint, sizes) {
    uint8_t buf[MEMTAP_VARINT_MAX];
    cr_assert_eq(memtap_varint_put(buf, 127), 1);
    cr_assert_eq(memtap_varint_put(buf, 128), 2);
    cr_assert_eq(memtap_varint_put(buf, UINT64_MAX), 10);
}

Test(varint, truncated_input_asks_for_more) {
    uint8_t buf[MEMTAP_VARINT_MAX];
    size_t n = memtap_varint_put(buf, 1ull << 40);
    for (size_t cut = 0; cut < n; cut++) {
        const uint8_t *p = buf;
        uint64_t v;
        cr_assert_eq(memtap_varint_get(&p, buf + cut, &v), 0);
        cr_assert_eq(p, buf, "the cursor must not move on failure");
    }
}

Test(varint, overlong_and_overflow_rejected) {
    uint8_t eleven[11];
    memset(eleven, 0x80, sizeof eleven);
    const uint8_t *p = eleven;
    uint64_t v;
    cr_assert_eq(memtap_varint_get(&p, eleven + sizeof eleven, &v), -1);
    uint8_t over[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    p = over;
    cr_assert_eq(memtap_varint_get(&p, over + 10, &v), -1);
}

Test(zigzag, maps_small_signed_to_small_unsigned) {
    cr_assert_eq(memtap_zigzag(0), 0);
    cr_assert_eq(memtap_zigzag(-1), 1);
    cr_assert_eq(memtap_zigzag(1), 2);
    cr_assert_eq(memtap_zigzag(-2), 3);
    const int64_t values[] = {0, 1, -1, 1000000, -1000000, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        cr_assert_eq(memtap_unzigzag(memtap_zigzag(values[i])), values[i]);
}

/* The reader's branch-free varint: the same value and length as the general one for every
 * varint, canonical or not, of up to 4 bytes (branch-free) or more (through fast_varint);
 * an overlong or overflowing one is refused without moving. */
Test(varint, branch_free_reader_agrees) {
    srand(5);
    for (int round = 0; round < 200000; round++) {
        uint8_t buf[16];
        for (size_t i = 0; i < sizeof buf; i++)
            buf[i] = (uint8_t)rand();
        size_t len = 1 + (size_t)rand() % 11; /* continuation bits on all but the last */
        for (size_t i = 0; i < len; i++)
            buf[i] = i + 1 < len ? buf[i] | 0x80 : buf[i] & 0x7f;
        const uint8_t *p = buf, *q = buf;
        uint64_t v = 0, w = 0;
        int general = memtap_varint_get(&q, buf + sizeof buf, &w);
        int got = fast_varint4(&p, &v);
        if (general != 1) {
            cr_assert_eq(got, 0, "%zu bytes", len);
            cr_assert_eq(p, buf, "the cursor must not move on failure");
            continue;
        }
        cr_assert_eq(got, 1, "%zu bytes", len);
        cr_assert_eq(v, w, "%zu bytes: %#llx, want %#llx", len, (unsigned long long)v,
                     (unsigned long long)w);
        cr_assert_eq(p, q, "%zu bytes", len);
    }
}
