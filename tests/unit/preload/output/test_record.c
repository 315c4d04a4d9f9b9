/* The record encoder: exact bytes of each layout, and a long pseudo-random run of
 * allocations and frees per writer form pinned by a checksum of every byte written (taken
 * from the encoder before its test-only forms moved behind the test seam: a change to what
 * the library writes must show here). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "memtap/format.h"
#include "output/record.h"

static uint8_t buf[1 << 16];
static memtap_enc_t e;
static memtap_model_t *model;

static void setup(void) {
    memset(&e, 0, sizeof e);
    e.buf = buf;
    e.cap = sizeof buf;
    model = aligned_alloc(4096, sizeof *model);
    cr_assert(model);
    memset(model, 0, sizeof *model);
}
static void teardown(void) {
    free(model);
}
TestSuite(record, .init = setup, .fini = teardown);

static void use_model(void) {
    e.model = model;
    memtap_enc_reset(&e);
}

/* The bytes written since the last call must be exactly want[0..n). */
static void expect_bytes(size_t *from, const uint8_t *want, size_t n) {
    cr_assert_eq(e.len - *from, n, "wrote %zu bytes, want %zu", e.len - *from, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(buf[*from + i], want[i], "byte %zu: %#x, want %#x", i, buf[*from + i],
                     want[i]);
    *from = e.len;
}

Test(record, node_and_plain_records, .timeout = 30) {
    size_t at = 0;
    memtap_enc_node(&e, 1, 0, 0x40);
    expect_bytes(&at, (const uint8_t[]){MEMTAP_REC_NODE, 1, 0x80, 0x01}, 4);
    memtap_enc_node(&e, 2, 1, 0x30); /* frame delta -0x10: zigzag 0x1f */
    expect_bytes(&at, (const uint8_t[]){MEMTAP_REC_NODE, 1, 0x1f}, 3);
    memtap_enc_alloc(&e, MEMTAP_KIND_CALLOC, 0x1000, 300, 2);
    expect_bytes(
        &at, (const uint8_t[]){MEMTAP_REC_ALLOC | MEMTAP_KIND_CALLOC, 0x80, 0x40, 0xac, 0x02, 2},
        6);
    memtap_enc_free(&e, 0xff0); /* delta -0x10 from the last address */
    expect_bytes(&at, (const uint8_t[]){MEMTAP_REC_FREE, 0x1f}, 2);
    memtap_enc_trailer(&e);
    expect_bytes(&at, (const uint8_t[]){MEMTAP_REC_TRAILER, 1, 1, 2}, 4);
}

Test(record, modelled_allocations_and_frees, .timeout = 30) {
    use_model();
    size_t at = 0;
    /* a new site: every field written, the address against the thread's last allocation */
    memtap_enc_alloc(&e, MEMTAP_KIND_MALLOC, 0x100, 32, 7);
    expect_bytes(&at, (const uint8_t[]){MEMTAP_REC_ALLOC, 0x80, 0x04, 32, 7}, 5);
    /* the same node again, same size, 16 bytes on from the node's last address: the node
     * is the predicted one, the size known, the place zigzag(1) = 2 inline */
    memtap_enc_alloc(&e, MEMTAP_KIND_MALLOC, 0x110, 32, 7);
    expect_bytes(
        &at, (const uint8_t[]){MEMTAP_REC_ALLOC_MODEL | MEMTAP_MODEL_NODE | MEMTAP_MODEL_SIZE | 2},
        1);
    /* freeing the block named one record ago: a one-byte reference */
    memtap_enc_free(&e, 0x110);
    expect_bytes(&at, (const uint8_t[]){MEMTAP_REC_FREE_REF | 1}, 1);
    /* the block named three records ago */
    memtap_enc_free(&e, 0x100);
    expect_bytes(&at, (const uint8_t[]){MEMTAP_REC_FREE_REF | 3}, 1);
    /* an address never named: 0x30 above the free before the last (c = 1), the nearest of
     * the last frees, so 3 units from it (zigzag 6) */
    memtap_enc_free(&e, 0x140);
    expect_bytes(&at, (const uint8_t[]){MEMTAP_REC_FREE_UNITS + 1, 6}, 2);
    cr_assert_eq(e.allocations, 2);
    cr_assert_eq(e.frees, 3);
}

/* FNV-1a over every byte a run writes. */
static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* 200,000 allocations and frees over a ring of live blocks, drawn so that references near
 * and far, repeated and new sizes, predicted and other nodes, and addresses off the 16-byte
 * grid all occur. Returns the checksum of the bytes; *total gets their number. */
static uint64_t random_run(uint64_t *total) {
    enum { RING = 3000, OPS = 200000 };
    static uint64_t ring[RING];
    memset(ring, 0, sizeof ring);
    uint64_t rng = 42, h = 0xcbf29ce484222325ull, next_addr = 0x10000;
    *total = 0;
    for (int op = 0; op < OPS; op++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t r = (uint32_t)(rng >> 33);
        size_t slot = r % RING;
        if (ring[slot]) {
            memtap_enc_free(&e, ring[slot]);
            ring[slot] = 0;
        } else {
            uint64_t addr = (r >> 12) % 4 ? next_addr : 0x7f0000000000ull + (r & 0xfff0);
            addr += (r >> 20) % 29 == 0 ? 8 : 0; /* off the grid now and then */
            next_addr += 16 * (1 + (r >> 14) % 40);
            uint32_t node = 1 + (r >> 8) % 97;
            uint64_t size = (r >> 22) % 3 ? 16 * node : (r >> 5) % 5000;
            memtap_enc_alloc(&e, (r >> 27) % 5 ? MEMTAP_KIND_MALLOC : MEMTAP_KIND_CALLOC, addr,
                             size, node);
            ring[slot] = addr;
        }
        if (e.len > e.cap - 2 * MEMTAP_ENC_FIXED_MAX) {
            h = fnv(h, buf, e.len);
            *total += e.len;
            e.len = 0;
        }
    }
    h = fnv(h, buf, e.len);
    *total += e.len;
    return h;
}

/* The run must write n bytes with checksum h. */
static void expect_run(uint64_t n, uint64_t h) {
    uint64_t got_n, got_h = random_run(&got_n);
    cr_assert_eq(got_n, n, "bytes: %llu", (unsigned long long)got_n);
    cr_assert_eq(got_h, h, "checksum: %#llx", (unsigned long long)got_h);
}

Test(record, the_library_form_writes_the_same_bytes, .timeout = 30) {
    use_model();
    expect_run(980939, 0x8508dd85d7ceb935ull);
}

Test(record, the_plain_form_writes_the_same_bytes, .timeout = 30) {
    expect_run(1371245, 0xc244431cb60ac1d3ull);
}

/* The forms only tests write (captures of older versions, which the reader still reads). */
Test(record, the_version_4_model_form_writes_the_same_bytes, .timeout = 30) {
    use_model();
    memtap_enc_test_form(&e, MEMTAP_ENC_MODEL_V4);
    expect_run(988496, 0x09e3103d2a6ca674ull);
}

Test(record, the_version_3_same_node_form_writes_the_same_bytes, .timeout = 30) {
    memtap_enc_test_form(&e, MEMTAP_ENC_SAME_NODE);
    expect_run(1370218, 0x8cb30f98afe24631ull);
}

Test(record, the_version_3_same_node_form_in_bytes, .timeout = 30) {
    memtap_enc_test_form(&e, MEMTAP_ENC_SAME_NODE);
    size_t at = 0;
    memtap_enc_alloc(&e, MEMTAP_KIND_MALLOC, 0x20, 5, 3);
    expect_bytes(&at, (const uint8_t[]){MEMTAP_REC_ALLOC, 0x40, 5, 3}, 4);
    memtap_enc_alloc(&e, MEMTAP_KIND_MALLOC, 0x30, 6, 3); /* the node repeats */
    expect_bytes(&at, (const uint8_t[]){MEMTAP_REC_ALLOC_SAME, 0x20, 6}, 3);
}
