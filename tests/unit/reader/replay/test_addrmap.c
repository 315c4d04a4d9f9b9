/* The reader's live-block map. */
#include <criterion/criterion.h>

#include "replay/addrmap.h"

Test(addrmap, put_get_take, .timeout = 30) {
    memtap_addrmap_t m;
    cr_assert_eq(memtap_addrmap_init(&m), 0);
    memtap_block_t out;
    int existed;
    memtap_block_t *b = memtap_addrmap_upsert(&m, 0x1000, &existed);
    cr_assert(b && !existed);
    b->size = 16;
    b->site = 3;
    cr_assert_eq(memtap_addrmap_upsert(&m, 0x1000, &existed), b);
    cr_assert(existed, "the same address finds the same block");
    cr_assert_not_null(memtap_addrmap_get(&m, 0x1000));
    cr_assert_null(memtap_addrmap_get(&m, 0x2000));
    cr_assert_eq(memtap_addrmap_take(&m, 0x1000, &out), 1);
    cr_assert_eq(out.size, 16);
    cr_assert_eq(out.site, 3);
    cr_assert_eq(memtap_addrmap_take(&m, 0x1000, &out), 0);
    cr_assert_eq(m.count, 0);
    memtap_addrmap_free(&m);
}

Test(addrmap, many_with_deletes_keeps_probe_chains, .timeout = 30) {
    memtap_addrmap_t m;
    cr_assert_eq(memtap_addrmap_init(&m), 0);
    enum { N = 200000 };
    for (uint64_t i = 0; i < N; i++) {
        int existed;
        memtap_block_t *b = memtap_addrmap_upsert(&m, 0x10000 + i * 48, &existed);
        cr_assert(b && !existed);
        b->size = i;
        b->site = (uint32_t)i;
    }
    for (uint64_t i = 0; i < N; i += 3) {
        memtap_block_t out;
        cr_assert_eq(memtap_addrmap_take(&m, 0x10000 + i * 48, &out), 1);
        cr_assert_eq(out.size, i);
    }
    cr_assert_eq(m.count, N - (N + 2) / 3);
    for (uint64_t i = 0; i < N; i++) {
        memtap_block_t *b = memtap_addrmap_get(&m, 0x10000 + i * 48);
        if (i % 3 == 0)
            cr_assert_null(b, "block %llu was taken", (unsigned long long)i);
        else
            cr_assert(b && b->size == i, "block %llu lost", (unsigned long long)i);
    }
    memtap_addrmap_free(&m);
}
