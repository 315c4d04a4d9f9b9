/* The live blocks of a process's image, by replaying what the collector wrote of it: the
 * library keeps no table of live blocks (that would cost every allocation), the collector
 * has every record. May call decode/ and replay/. */
#include "collect/live.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/errors.h"
#include "decode/batch.h"
#include "decode/container.h"
#include "decode/decoder.h"
#include "replay/replay.h"

static int by_addr(const void *a, const void *b) {
    uint64_t x = ((const memtap_shm_block_t *)a)->addr, y = ((const memtap_shm_block_t *)b)->addr;
    return (x > y) - (x < y);
}

/* Replays process p of c into r. Returns MEMTAP_OK or an error code. */
static int replay_process(const memtap_container_t *c, uint32_t p, memtap_replay_t *r,
                          char *err, size_t err_cap) {
    memtap_decoder_t *dec = NULL;
    memtap_batch_t *b = memtap_batch_new();
    int rc = b ? memtap_decoder_open_process(&dec, c, p) : MEMTAP_ERR_NOMEM;
    while (rc == MEMTAP_OK) {
        memtap_batch_clear(b);
        memtap_decoder_fill(dec, b);
        rc = b->rc;
        if (memtap_replay_batch(r, b) < 0)
            rc = MEMTAP_ERR_NOMEM;
        if (b->end)
            break;
    }
    if (rc != MEMTAP_OK)
        snprintf(err, err_cap, "%s", dec && rc != MEMTAP_ERR_NOMEM ? memtap_decoder_error(dec)
                                                                   : "out of memory");
    memtap_decoder_free(dec);
    memtap_batch_free(b);
    return rc;
}

long memtap_collect_live(const char *path, pid_t pid, memtap_shm_block_t *out, size_t cap,
                         char *err, size_t err_cap) {
    memtap_container_t *c = NULL;
    if (memtap_container_open(&c, path) != MEMTAP_OK) {
        snprintf(err, err_cap, "%s", c ? c->error : "out of memory");
        memtap_container_free(c);
        return -1;
    }
    uint32_t p = MEMTAP_NONE; /* the last process of that pid: a pid may be used again */
    for (uint32_t i = 0; i < c->processes.n; i++)
        if (c->processes.v[i].pid == (uint64_t)pid)
            p = i;
    memtap_replay_t r;
    long n = -1;
    if (p == MEMTAP_NONE)
        snprintf(err, err_cap, "no process %ld in the capture", (long)pid);
    else if (memtap_replay_init(&r) < 0)
        snprintf(err, err_cap, "out of memory");
    else {
        if (replay_process(c, p, &r, err, err_cap) == MEMTAP_OK) {
            n = 0;
            const memtap_addrmap_t *m = &r.live;
            for (size_t i = 0; m->slots && i <= m->mask; i++) {
                const memtap_block_t *blk = &m->slots[i];
                if (!blk->used)
                    continue;
                if ((size_t)n == cap) {
                    snprintf(err, err_cap, "more than %zu live blocks", cap);
                    n = -1;
                    break;
                }
                out[n++] = (memtap_shm_block_t){blk->addr, blk->size};
            }
            /* the anonymous mappings the program made are blocks too */
            for (size_t i = 0; n >= 0 && i < r.regions.n; i++) {
                if ((size_t)n == cap) {
                    snprintf(err, err_cap, "more than %zu live blocks", cap);
                    n = -1;
                    break;
                }
                out[n++] = (memtap_shm_block_t){r.regions.v[i].addr, r.regions.v[i].len};
            }
            if (n > 0)
                qsort(out, (size_t)n, sizeof *out, by_addr);
        }
        memtap_replay_free(&r);
    }
    memtap_container_free(c);
    return n;
}
