/* The leak scan's classes (LEAK_SCAN, LEAK_CLASSES: docs/format.md) applied to the replay's
 * live blocks. The scan classified the blocks live at the image's exit in address order,
 * anonymous mappings included; the replay has the same blocks at that point, and checks it
 * (their count and address hash) before it believes the classes. */
#include <stdlib.h>

#include "memtap/format.h"
#include "replay/replay.h"

typedef struct {
    uint64_t addr;
    uint8_t *cls; /* the block's or region's leak_class field */
} entry_t;

static int by_addr(const void *a, const void *b) {
    uint64_t x = ((const entry_t *)a)->addr, y = ((const entry_t *)b)->addr;
    return (x > y) - (x < y);
}

int memtap_replay_leak_scan(memtap_replay_t *r, const memtap_event_t *ev) {
    free(r->leak_order);
    r->leak_order = NULL;
    uint64_t n = r->live.count + r->regions.n;
    r->leak_scan = MEMTAP_LEAK_SCAN_MISMATCH;
    r->leak_scan_ms = ev->u.leak_scan.ms;
    if (n != ev->u.leak_scan.blocks)
        return 0;
    entry_t *e = malloc((n ? n : 1) * sizeof *e);
    uint8_t *classes = malloc(n ? n : 1);
    if (!e || !classes) {
        free(e);
        free(classes);
        return -1;
    }
    /* a bit-field has no address: each block's class is staged in classes[] and written
     * back at the end (memtap_replay_leak_classes, last record) */
    size_t k = 0;
    for (size_t i = 0; r->live.slots && i <= r->live.mask; i++)
        if (r->live.slots[i].used)
            e[k++] = (entry_t){r->live.slots[i].addr, NULL};
    for (size_t i = 0; i < r->regions.n; i++)
        e[k++] = (entry_t){r->regions.v[i].addr, &r->regions.v[i].leak_class};
    qsort(e, n, sizeof *e, by_addr);
    uint64_t hash = 0;
    for (size_t i = 0; i < n; i++)
        hash = memtap_leak_hash(hash, e[i].addr);
    if (hash != ev->u.leak_scan.hash) {
        free(e);
        free(classes);
        return 0;
    }
    r->leak_order = e;
    r->leak_n = n;
    r->leak_scan = MEMTAP_LEAK_SCAN_DONE;
    for (size_t i = 0; i < n; i++)
        classes[i] = 0;
    free(r->leak_staged);
    r->leak_staged = classes;
    if (n == 0)
        memtap_replay_leak_classes(r, NULL);
    return 0;
}

void memtap_replay_leak_classes(memtap_replay_t *r, const memtap_event_t *ev) {
    if (r->leak_scan != MEMTAP_LEAK_SCAN_DONE || !r->leak_order)
        return;
    entry_t *e = r->leak_order;
    if (ev) {
        uint64_t first = ev->u.leak_classes.first, n = ev->u.leak_classes.n;
        if (first + n > r->leak_n)
            return; /* the decoder checked it against the scan's count: cannot happen */
        for (uint64_t i = 0; i < n; i++)
            r->leak_staged[first + i] =
                (uint8_t)(1 + ((ev->u.leak_classes.bits[i / 4] >> (2 * (i % 4))) & 3));
        if (first + n < r->leak_n)
            return;
    }
    /* the last record: every block gets its class */
    for (uint64_t i = 0; i < r->leak_n; i++) {
        if (e[i].cls) {
            *e[i].cls = r->leak_staged[i];
        } else {
            memtap_block_t *b = memtap_addrmap_get(&r->live, e[i].addr);
            if (b)
                b->leak_class = r->leak_staged[i] & 7u;
        }
    }
    free(r->leak_order);
    free(r->leak_staged);
    r->leak_order = NULL;
    r->leak_staged = NULL;
}
