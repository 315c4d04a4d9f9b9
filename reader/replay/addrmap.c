/* The live-block map's out-of-line part: creating and releasing it. */
#include "replay/addrmap.h"

#include <string.h>

int memtap_addrmap_init(memtap_addrmap_t *m) {
    return memtap_addrmap_table_init(m, 1024);
}

void memtap_addrmap_free(memtap_addrmap_t *m) {
    memtap_addrmap_table_destroy(m);
}

void memtap_addrmap_clear(memtap_addrmap_t *m) {
    if (m->slots)
        memset(m->slots, 0, (m->mask + 1) * sizeof *m->slots);
    m->count = 0;
}
