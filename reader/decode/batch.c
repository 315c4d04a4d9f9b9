/* Event batches: filling one from the decoder (its fast paths first, then event by event),
 * and keeping its whole events' strings. May call: decoder.h, order.c's fast paths
 * (decoder_internal.h). */
#include "decode/batch.h"

#include <stdlib.h>
#include <string.h>

#include "decode/decoder_internal.h"
#include "common/errors.h"

/* The others' strings live in a chain of blocks, so what was copied never moves. */
struct memtap_arena_block {
    memtap_arena_block_t *next;
    size_t used, cap;
    uint8_t bytes[];
};

#define ARENA_BLOCK (64u * 1024u)

memtap_batch_t *memtap_batch_new(void) {
    memtap_batch_t *b = malloc(sizeof *b);
    if (!b)
        return NULL;
    b->arena = NULL;
    memtap_batch_clear(b);
    return b;
}

void memtap_batch_free(memtap_batch_t *b) {
    if (!b)
        return;
    while (b->arena) {
        memtap_arena_block_t *next = b->arena->next;
        free(b->arena);
        b->arena = next;
    }
    free(b);
}

void memtap_batch_clear(memtap_batch_t *b) {
    b->n = b->nothers = 0;
    b->rc = MEMTAP_OK;
    b->end = 0;
    b->done = b->total = 0;
    for (memtap_arena_block_t *a = b->arena; a; a = a->next)
        a->used = 0;
}

/* A copy of n bytes at p in b's arena (NULL when memory ran out; p itself when n is 0). */
static const void *keep(memtap_batch_t *b, const void *p, size_t n) {
    if (n == 0)
        return p;
    memtap_arena_block_t *a = b->arena;
    while (a && a->cap - a->used < n)
        a = a->next;
    if (!a) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        a = malloc(sizeof *a + cap);
        if (!a)
            return NULL;
        a->used = 0;
        a->cap = cap;
        a->next = b->arena;
        b->arena = a;
    }
    void *d = a->bytes + a->used;
    memcpy(d, p, n);
    a->used += (n + 7) & ~(size_t)7; /* keeps the segments aligned */
    if (a->used > a->cap)
        a->used = a->cap;
    return d;
}

#define KEEP(b, field, len)                                                                        \
    do {                                                                                           \
        if (!((field) = keep((b), (field), (len))))                                                \
            return MEMTAP_ERR_NOMEM;                                                               \
    } while (0)

/* The event's strings (and a module's segments) copied into the batch. */
static int keep_strings(memtap_batch_t *b, memtap_event_t *e) {
    switch (e->type) {
    case MEMTAP_EV_HEADER:
        KEEP(b, e->u.header.exe, e->u.header.exe_len);
        KEEP(b, e->u.header.cmdline, e->u.header.cmdline_len);
        break;
    case MEMTAP_EV_MODULE:
        KEEP(b, e->u.module.path, e->u.module.path_len);
        KEEP(b, e->u.module.build_id, e->u.module.build_id_len);
        KEEP(b, e->u.module.segs, e->u.module.nseg * sizeof *e->u.module.segs);
        break;
    case MEMTAP_EV_THREAD:
    case MEMTAP_EV_THREAD_NAME:
        KEEP(b, e->u.thread.name, e->u.thread.name_len);
        break;
    case MEMTAP_EV_LEAK_CLASSES:
        KEEP(b, e->u.leak_classes.bits, (size_t)(e->u.leak_classes.n + 3) / 4);
        break;
    case MEMTAP_EV_PY_CODE:
        KEEP(b, e->u.py_code.qualname, e->u.py_code.qualname_len);
        KEEP(b, e->u.py_code.filename, e->u.py_code.filename_len);
        break;
    default:
        break;
    }
    return MEMTAP_OK;
}

int memtap_batch_add(memtap_batch_t *b, const memtap_event_t *ev) {
    memtap_bev_t *e = &b->ev[b->n];
    e->type = (uint8_t)ev->type;
    switch (ev->type) {
    case MEMTAP_EV_ALLOC:
        e->addr = ev->u.alloc.addr;
        e->size = ev->u.alloc.size;
        e->node = ev->u.alloc.node;
        e->kind = (uint8_t)ev->u.alloc.kind;
        e->thread = memtap_bev_thread(ev->u.alloc.thread);
        break;
    case MEMTAP_EV_FREE:
    case MEMTAP_EV_MUNMAP:
        e->addr = ev->u.free.addr;
        e->size = ev->u.free.len;
        break;
    default: {
        memtap_event_t *o = &b->others[b->nothers];
        *o = *ev;
        if (keep_strings(b, o) != MEMTAP_OK)
            return MEMTAP_ERR_NOMEM;
        e->addr = b->nothers++;
        break;
    }
    }
    b->n++;
    return MEMTAP_OK;
}

int memtap_decoder_fill(memtap_decoder_t *d, memtap_batch_t *b) {
    memtap_batch_clear(b);
    while (!memtap_batch_full(b)) {
        size_t fast = dec_fast_run(d, b->ev + b->n, MEMTAP_BATCH_EVENTS - b->n);
        fast += dec_fast_ahead(d, b->ev + b->n + fast, MEMTAP_BATCH_EVENTS - b->n - fast);
        b->n += fast;
        if (fast || memtap_batch_full(b))
            continue; /* the fast paths again, while they deliver */
        memtap_event_t ev;
        int rc = memtap_decoder_next(d, &ev);
        if (rc == MEMTAP_OK)
            rc = memtap_batch_add(b, &ev);
        if (rc != MEMTAP_OK) {
            b->rc = rc;
            break;
        }
        if (ev.type == MEMTAP_EV_END) {
            b->end = 1;
            break;
        }
    }
    memtap_decoder_progress(d, &b->done, &b->total);
    return b->rc;
}
