/* The reader's live-block map. */
#include <criterion/criterion.h>

#include "addrmap.h"

Test(addrmap, put_get_take) {
    memtap_addrmap_t m;
    cr_assert_eq(memtap_addrmap_init(&m), 0);
    memtap_block_t b = {0x1000, 16, 3, 0, 0}, out;
    cr_assert_eq(memtap_addrmap_put(&m, &b), 0);
    cr_assert_not_null(memtap_addrmap_get(&m, 0x1000));
    cr_assert_null(memtap_addrmap_get(&m, 0x2000));
    cr_assert_eq(memtap_addrmap_take(&m, 0x1000, &out), 1);
    cr_assert_eq(out.size, 16);
    cr_assert_eq(out.site, 3);
    cr_assert_eq(memtap_addrmap_take(&m, 0x1000, &out), 0);
    cr_assert_eq(m.count, 0);
    memtap_addrmap_free(&m);
}

Test(addrmap, many_with_deletes_keeps_probe_chains) {
    memtap_addrmap_t m;
    cr_assert_eq(memtap_addrmap_init(&m), 0);
    enum { N = 200000 };
    for (uint64_t i = 0; i < N; i++) {
        memtap_block_t b = {0x10000 + i * 48, i, (uint32_t)i, 0, 0};
        cr_assert_eq(memtap_addrmap_put(&m, &b), 0);
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
