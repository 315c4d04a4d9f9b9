/* The live blocks of a process's image, by replaying what the collector wrote of it: the
 * library keeps no table of live blocks (that would cost every allocation), the collector
 * has every record. May call decode/ and replay/. */
#include "collect/live.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/errors.h"
#include "decode/batch.h"
#include "container/container.h"
#include "decode/decoder.h"
#include "replay/replay.h"

static int by_addr(const void *a, const void *b) {
    uint64_t x = ((const memtap_shm_block_t *)a)->addr, y = ((const memtap_shm_block_t *)b)->addr;
    return (x > y) - (x < y);
}

/* The replay's figures are not needed here, only what is live: the heap's blocks go into
 * heap (an address and a size, two probes an event instead of the replay's site and thread
 * tables: half the collector's time at exit), everything else (mappings, images, nodes)
 * through the replay, which keeps the anonymous mappings in r->regions. */
static int replay_live(memtap_replay_t *r, memtap_addrmap_t *heap, const memtap_batch_t *b) {
    for (size_t i = 0; i < b->n; i++) {
        const memtap_bev_t *e = &b->ev[i];
        if (e->type == MEMTAP_EV_ALLOC && e->kind != MEMTAP_KIND_MMAP) {
            int existed;
            memtap_block_t *blk = memtap_addrmap_upsert(heap, e->addr, &existed);
            if (!blk)
                return -1;
            blk->size = e->size;
            continue;
        }
        if (e->type == MEMTAP_EV_FREE) {
            memtap_block_t gone;
            memtap_addrmap_take(heap, e->addr, &gone);
            continue;
        }
        memtap_event_t ev = {.type = e->type};
        if (e->type == MEMTAP_EV_ALLOC) {
            ev.u.alloc.kind = e->kind;
            ev.u.alloc.addr = e->addr;
            ev.u.alloc.size = e->size;
            ev.u.alloc.node = e->node;
            ev.u.alloc.thread = e->thread;
        } else if (e->type == MEMTAP_EV_MUNMAP) {
            ev.u.free.addr = e->addr;
            ev.u.free.len = e->size;
        } else {
            ev = b->others[e->addr];
            /* a new image (not the same one after a failed exec) starts with nothing live */
            if (ev.type == MEMTAP_EV_HEADER && r->images.n > 0 &&
                !(ev.u.header.flags & MEMTAP_HDR_CONTINUED))
                memtap_addrmap_clear(heap);
        }
        if (memtap_replay_event(r, &ev) < 0)
            return -1;
    }
    return 0;
}

/* Replays process p of c: its heap blocks into heap, the rest into r. Returns MEMTAP_OK or
 * an error code. */
static int replay_process(const memtap_container_t *c, uint32_t p, memtap_replay_t *r,
                          memtap_addrmap_t *heap, char *err, size_t err_cap) {
    memtap_decoder_t *dec = NULL;
    memtap_batch_t *b = memtap_batch_new();
    int rc = b ? memtap_decoder_open_process(&dec, c, p) : MEMTAP_ERR_NOMEM;
    while (rc == MEMTAP_OK) {
        memtap_batch_clear(b);
        memtap_decoder_fill(dec, b);
        rc = b->rc;
        if (replay_live(r, heap, b) < 0)
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
    memtap_addrmap_t heap;
    long n = -1;
    if (p == MEMTAP_NONE)
        snprintf(err, err_cap, "no process %ld in the capture", (long)pid);
    else if (memtap_addrmap_init(&heap) < 0)
        snprintf(err, err_cap, "out of memory");
    else if (memtap_replay_init(&r) < 0) {
        snprintf(err, err_cap, "out of memory");
        memtap_addrmap_free(&heap);
    } else {
        if (replay_process(c, p, &r, &heap, err, err_cap) == MEMTAP_OK) {
            n = 0;
            const memtap_addrmap_t *m = &heap;
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
        memtap_addrmap_free(&heap);
    }
    memtap_container_free(c);
    return n;
}
