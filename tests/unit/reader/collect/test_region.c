/* The collector's side of the shared region: draining the ring into pieces, images that end
 * by themselves, and the records of a dead process taken from its buffers. The test plays
 * the library's part by hand, following include/memtap/collector.h. */
#include <criterion/criterion.h>
#include <errno.h>
#include <lz4frame.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "collect/pieces.h"
#include "collect/region.h"
#include "memtap/collector.h"
#include "memtap/container.h"
#include "memtap/format.h"
#include "memtap/varint.h"

#define SLOT_SIZE 8192u
#define SLOT_DATA 64u

static int region_fd, out_fd;
static uint8_t *shm;
static memtap_shm_control_t *ctl;
static char out_path[64];

static void setup(void) {
    region_fd = memfd_create("test-region", MFD_CLOEXEC);
    cr_assert(region_fd >= 0);
    cr_assert_eq(ftruncate(region_fd, MEMTAP_SHM_SIZE), 0);
    shm = mmap(NULL, MEMTAP_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, region_fd, 0);
    cr_assert(shm != MAP_FAILED);
    ctl = (memtap_shm_control_t *)shm;
    ctl->magic = MEMTAP_SHM_MAGIC;
    ctl->version = MEMTAP_SHM_VERSION;
    ctl->size = MEMTAP_SHM_SIZE;
    ctl->slot_size = SLOT_SIZE;
    ctl->slot_data_offset = SLOT_DATA;
    strcpy(out_path, "/tmp/memtap-test-region-XXXXXX");
    out_fd = mkstemp(out_path);
    cr_assert(out_fd >= 0);
}

static void teardown(void) {
    munmap(shm, MEMTAP_SHM_SIZE);
    close(region_fd);
    close(out_fd);
    unlink(out_path);
}

/* The library's part: one whole item into the ring. */
static void ring_put(uint8_t kind, const void *payload, uint32_t n) {
    uint8_t *ring = shm + MEMTAP_SHM_RING_OFFSET;
    uint8_t h[5] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24), kind};
    uint64_t at = ctl->ring_head;
    for (uint32_t i = 0; i < 5 + n; i++)
        ring[(at + i) & (MEMTAP_SHM_RING_SIZE - 1)] = i < 5 ? h[i] : ((const uint8_t *)payload)[i - 5];
    __atomic_store_n(&ctl->ring_head, at + 5 + n, __ATOMIC_RELEASE);
}

static size_t chunk(uint8_t *out, uint32_t source, uint64_t watermark, const char *data) {
    size_t k = 0, n = strlen(data);
    out[k++] = MEMTAP_REC_CHUNK;
    k += memtap_varint_put(out + k, source);
    k += memtap_varint_put(out + k, watermark);
    k += memtap_varint_put(out + k, n);
    memcpy(out + k, data, n);
    return k + n;
}

static void put_chunk(uint32_t source, uint64_t watermark, const char *data) {
    uint8_t buf[256];
    ring_put(MEMTAP_ITEM_CHUNK, buf, (uint32_t)chunk(buf, source, watermark, data));
}

/* Reads the pieces written to out_path: for each, its header and its decompressed bytes. */
typedef struct {
    uint64_t stream, flags, pid, status;
    uint8_t bytes[4096];
    size_t len;
} piece_t;

static size_t read_pieces(piece_t *out, size_t max) {
    FILE *f = fopen(out_path, "rb");
    cr_assert(f);
    static uint8_t file[1 << 20];
    size_t n = fread(file, 1, sizeof file, f), pos = 0, k = 0;
    fclose(f);
    while (pos < n && k < max) {
        cr_assert_geq(n - pos, 8u);
        uint32_t magic, len;
        memcpy(&magic, file + pos, 4);
        memcpy(&len, file + pos + 4, 4);
        cr_assert_eq(magic, MEMTAP_PIECE_MAGIC, "a piece header at byte %zu", pos);
        cr_assert_eq(memcmp(file + pos + 8, MEMTAP_PIECE_TAG, 4), 0);
        const uint8_t *p = file + pos + 12, *end = file + pos + 8 + len;
        piece_t *pc = &out[k++];
        cr_assert_eq(memtap_varint_get(&p, end, &pc->stream), 1);
        cr_assert_eq(memtap_varint_get(&p, end, &pc->flags), 1);
        cr_assert_eq(memtap_varint_get(&p, end, &pc->pid), 1);
        cr_assert_eq(memtap_varint_get(&p, end, &pc->status), 1);
        pos += 8 + len;
        LZ4F_dctx *d;
        LZ4F_createDecompressionContext(&d, LZ4F_VERSION);
        size_t in = n - pos, outn = sizeof pc->bytes;
        size_t rc = LZ4F_decompress(d, pc->bytes, &outn, file + pos, &in, NULL);
        cr_assert_eq(rc, 0, "one whole LZ4 frame per piece");
        LZ4F_freeDecompressionContext(d);
        pc->len = outn;
        pos += in;
    }
    return k;
}

TestSuite(collect_region, .init = setup, .fini = teardown, .timeout = 20);

Test(collect_region, an_image_that_ends_by_itself) {
    memtap_piece_file_t f;
    memtap_piece_file_init(&f, out_fd, NULL);
    memtap_region_t r;
    cr_assert_eq(memtap_region_map(&r, region_fd, 4242, 1), 0, "%s", r.error);
    ctl->image = 1;
    ring_put(MEMTAP_ITEM_IMAGE, "HEADER", 6);
    put_chunk(1, 10, "thread records");
    cr_assert_eq(memtap_region_drain(&r, &f), 5 + 6 + 5 + 18);
    cr_assert(memtap_region_in_image(&r));
    put_chunk(0, MEMTAP_WATERMARK_CLOSED, "trailer");
    cr_assert_gt(memtap_region_drain(&r, &f), 0);
    cr_assert_not(memtap_region_in_image(&r), "source 0's closing chunk ends the image");
    memtap_region_finish(&r, &f, 9); /* nothing more: it ended by itself */
    memtap_region_free(&r);
    memtap_piece_file_free(&f);

    piece_t pcs[4];
    cr_assert_eq(read_pieces(pcs, 4), 1);
    cr_assert_eq(pcs[0].stream, 1);
    cr_assert_eq(pcs[0].pid, 4242);
    cr_assert_eq(pcs[0].flags, MEMTAP_PIECE_FIRST | MEMTAP_PIECE_LAST | MEMTAP_PIECE_ROOT);
    uint8_t want[256];
    memcpy(want, "HEADER", 6);
    size_t w = 6;
    w += chunk(want + w, 1, 10, "thread records");
    w += chunk(want + w, 0, MEMTAP_WATERMARK_CLOSED, "trailer");
    cr_assert_eq(pcs[0].len, w);
    cr_assert_eq(memcmp(pcs[0].bytes, want, w), 0);
}

Test(collect_region, a_dead_process_leaves_its_unflushed_records) {
    memtap_piece_file_t f;
    memtap_piece_file_init(&f, out_fd, NULL);
    memtap_region_t r;
    cr_assert_eq(memtap_region_map(&r, region_fd, 77, 0), 0);
    ctl->image = 1;
    ring_put(MEMTAP_ITEM_IMAGE, "H", 1);
    put_chunk(0, 4, "n1n2");      /* source 0: 4 bytes flushed */
    put_chunk(3, 8, "abcdef");    /* thread source 3: 6 bytes flushed */
    memtap_region_drain(&r, &f);
    /* source 0's buffer: flushed "n1n2" earlier (base 4), now holds "t1" */
    ctl->source0_base = 4;
    memcpy(shm + MEMTAP_SHM_SOURCE0_OFFSET, "t1", 2);
    ctl->source0_len = 2;
    /* slot 0: source 3, its buffer still holds what was flushed ("def", base 3) and "gh" */
    memtap_shm_slot_t *s = (memtap_shm_slot_t *)(shm + MEMTAP_SHM_SLOTS_OFFSET);
    s->image = 1;
    s->source = 3;
    s->base = 3;
    memcpy((uint8_t *)s + SLOT_DATA, "defgh", 5);
    s->committed = 5 | 7ull << 32;
    /* slot 1: an older image's buffer: not this image's records */
    memtap_shm_slot_t *old = (memtap_shm_slot_t *)(shm + MEMTAP_SHM_SLOTS_OFFSET + SLOT_SIZE);
    old->image = 0;
    old->source = 4;
    old->committed = 3;
    ctl->slots_used = 2;
    memtap_region_finish(&r, &f, 9);
    cr_assert_not(memtap_region_in_image(&r));
    memtap_region_free(&r);

    piece_t pcs[4];
    cr_assert_eq(read_pieces(pcs, 4), 1);
    cr_assert_eq(pcs[0].flags, MEMTAP_PIECE_FIRST | MEMTAP_PIECE_LAST | MEMTAP_PIECE_KILLED);
    cr_assert_eq(pcs[0].status, 9);
    uint8_t want[256];
    size_t w = 0;
    want[w++] = 'H';
    w += chunk(want + w, 0, 4, "n1n2");
    w += chunk(want + w, 3, 8, "abcdef");
    w += chunk(want + w, 0, MEMTAP_WATERMARK_CLOSED, "t1");
    w += chunk(want + w, 3, MEMTAP_WATERMARK_CLOSED, "gh");
    cr_assert_eq(pcs[0].len, w);
    cr_assert_eq(memcmp(pcs[0].bytes, want, w), 0);
    memtap_piece_file_free(&f);
}

Test(collect_region, a_failed_exec_starts_a_second_stream) {
    memtap_piece_file_t f;
    memtap_piece_file_init(&f, out_fd, NULL);
    memtap_region_t r;
    cr_assert_eq(memtap_region_map(&r, region_fd, 5, 0), 0);
    ctl->image = 1;
    ring_put(MEMTAP_ITEM_IMAGE, "A", 1);
    put_chunk(0, MEMTAP_WATERMARK_CLOSED, "exec");
    ctl->image = 2;
    ring_put(MEMTAP_ITEM_IMAGE, "B", 1);
    memtap_region_drain(&r, &f);
    cr_assert(memtap_region_in_image(&r));
    memtap_region_finish(&r, &f, 0);
    memtap_region_free(&r);
    piece_t pcs[4];
    cr_assert_eq(read_pieces(pcs, 4), 2);
    cr_assert_eq(pcs[0].stream, 1);
    cr_assert_eq(pcs[0].flags, MEMTAP_PIECE_FIRST | MEMTAP_PIECE_LAST);
    cr_assert_eq(pcs[1].stream, 2);
    cr_assert_eq(pcs[1].flags, MEMTAP_PIECE_FIRST | MEMTAP_PIECE_LAST | MEMTAP_PIECE_KILLED);
    cr_assert_eq(pcs[1].len, 1);
    memtap_piece_file_free(&f);
}

Test(collect_region, garbage_in_the_ring_breaks_only_the_region) {
    memtap_piece_file_t f;
    memtap_piece_file_init(&f, out_fd, NULL);
    memtap_region_t r;
    cr_assert_eq(memtap_region_map(&r, region_fd, 5, 0), 0);
    ring_put(MEMTAP_ITEM_IMAGE, "A", 1);
    ring_put(MEMTAP_ITEM_CHUNK, "\x20\x01", 2); /* a CHUNK cut short */
    cr_assert_eq(memtap_region_drain(&r, &f), -1);
    cr_assert(r.broken);
    cr_assert_str_eq(r.error, "a CHUNK item in the ring is malformed");
    __atomic_store_n(&ctl->ring_head, ctl->ring_tail + MEMTAP_SHM_RING_SIZE + 1, __ATOMIC_RELEASE);
    cr_assert_eq(memtap_region_drain(&r, &f), -1);
    memtap_region_finish(&r, &f, 0); /* no salvage from a broken region, no crash */
    memtap_region_free(&r);
    memtap_piece_file_free(&f);
}

Test(collect_region, items_wrap_around_the_ring) {
    memtap_piece_file_t f;
    memtap_piece_file_init(&f, out_fd, NULL);
    memtap_region_t r;
    cr_assert_eq(memtap_region_map(&r, region_fd, 5, 0), 0);
    ctl->ring_head = ctl->ring_tail = MEMTAP_SHM_RING_SIZE - 7; /* the next item wraps */
    ring_put(MEMTAP_ITEM_IMAGE, "WRAPPED", 7);
    put_chunk(0, MEMTAP_WATERMARK_CLOSED, "x");
    cr_assert_gt(memtap_region_drain(&r, &f), 0);
    memtap_region_free(&r);
    piece_t pcs[2];
    cr_assert_eq(read_pieces(pcs, 2), 1);
    cr_assert_eq(memcmp(pcs[0].bytes, "WRAPPED", 7), 0);
    memtap_piece_file_free(&f);
}

static ssize_t disk_full(int fd, const void *p, size_t n) {
    (void)fd, (void)p, (void)n;
    errno = ENOSPC;
    return -1;
}

Test(collect_region, a_full_disk_is_sticky_and_the_ring_still_drains) {
    memtap_piece_file_t f;
    memtap_piece_file_init(&f, out_fd, disk_full);
    memtap_region_t r;
    cr_assert_eq(memtap_region_map(&r, region_fd, 5, 0), 0);
    ring_put(MEMTAP_ITEM_IMAGE, "A", 1);
    put_chunk(0, MEMTAP_WATERMARK_CLOSED, "x");
    cr_assert_gt(memtap_region_drain(&r, &f), 0);
    cr_assert_eq(f.error, ENOSPC);
    cr_assert_eq(ctl->ring_tail, ctl->ring_head, "the writer is never kept waiting");
    memtap_region_free(&r);
    memtap_piece_file_free(&f);
}
