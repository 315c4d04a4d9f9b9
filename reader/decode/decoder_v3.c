/* Version 3 decoding: CHUNKs go to their source's queue (reader/decode/merge.c), and records come
 * back out in position order; a fast path for the thread records that need no merge. */
#include <stdlib.h>
#include <string.h>

#include "decode/decoder_internal.h"
#include "common/errors.h"
#include "memtap/varint.h"
#include "decode/thread_model.h"

/* A top-level record of a v3 frame: only CHUNKs, whose records go to their source. */
void dec_parse_chunk(memtap_decoder_t *d, cursor_t *c) {
    if (dec_get_byte(c) != MEMTAP_REC_CHUNK) {
        if (!c->status)
            dec_bad(c, "a version 3 frame holds only chunks after its header");
        return;
    }
    uint64_t source = dec_get_varint(c, "chunk source");
    uint64_t watermark = dec_get_varint(c, "chunk watermark");
    size_t n = 0;
    const uint8_t *p = dec_get_bytes(c, &n, MEMTAP_MAX_CHUNK, "chunk too long");
    if (c->status)
        return;
    if (d->state == AFTER_TRAILER)
        return dec_bad(c, "chunk after the trailer");
    if (source > UINT32_MAX)
        return dec_bad(c, "chunk source out of range");
    const char *why = "out of memory";
    int rc = memtap_merge_add(&d->merge, (uint32_t)source, watermark, p, n,
                              d->win_offset + (uint64_t)(p - d->win), &why);
    if (rc != MEMTAP_OK)
        dec_bad(c, why);
}

static int is_thread_record(const memtap_decoder_t *d, uint8_t type) {
    if (d->version >= 4)
        return memtap_tmodel_is_record(d->version, type);
    return (type & 0xf0) == MEMTAP_REC_ALLOC || (type & 0xf0) == MEMTAP_REC_ALLOC_SAME ||
           type == MEMTAP_REC_FREE || type == MEMTAP_REC_MUNMAP;
}

static const memtap_tmodel_t *model_of(const memtap_msrc_t *s) {
    return s->model ? s->model : &memtap_tmodel_empty;
}

/* Source s's record (ev, as parsed, n bytes) is released: its delta state or model learns
 * it. When the thread ended and nothing of it is left, its model goes. */
static inline __attribute__((always_inline)) int learn(memtap_decoder_t *d, memtap_msrc_t *s,
                                                      const memtap_event_t *ev, size_t n) {
    if (d->version < 4) {
        if (ev->type == MEMTAP_EV_ALLOC) {
            s->last_addr = ev->u.alloc.addr;
            s->last_node = ev->u.alloc.node;
        } else {
            s->last_addr = ev->u.free.addr;
        }
        return MEMTAP_OK;
    }
    int rc = memtap_tmodel_learn(&s->model, ev);
    if (s->watermark == MEMTAP_WATERMARK_CLOSED && s->pos + n >= s->len) {
        memtap_tmodel_free(s->model);
        s->model = NULL;
    }
    return rc;
}

/* A thread's next ALLOC or FREE (and the SKIP before it) decoded without the general
 * machinery, from p which surely holds it (48 bytes). Returns its length with ev filled and
 * *key moved to the record's key, or 0 to leave it to the general path (which judges it).
 * The node is checked when the record is released. */
static inline __attribute__((always_inline)) size_t
fast_thread_record(const memtap_decoder_t *d, const uint8_t *p, const memtap_msrc_t *s,
                   uint64_t *key, memtap_event_t *ev) {
    const uint8_t *start = p, *q = p + 1;
    uint64_t k = *key, delta, size, node;
    if (*p == MEMTAP_REC_SKIP) { /* threads interleaving: most records have one */
        if (!fast_varint(&q, &delta) || delta > (UINT64_MAX >> 2) - k)
            return 0;
        k += delta;
        p = q++;
    }
    uint8_t type = *p;
    if (d->version >= 4) {
        const char *why;
        long n = memtap_tmodel_parse(model_of(s), d->version, d->max_kind, p, s->buf + s->len, ev,
                                     &why);
        if (n <= 0)
            return 0;
        q = p + n;
    } else if ((type & 0xd0) == MEMTAP_REC_ALLOC) { /* ALLOC 0x1k, ALLOC_SAME 0x3k */
        node = s->last_node;
        if (!fast_varint(&q, &delta) || !fast_varint(&q, &size) ||
            (type < MEMTAP_REC_ALLOC_SAME && !fast_varint(&q, &node)) ||
            (type & 0x0f) > d->max_kind || node > UINT32_MAX || size > MAX_BLOCK)
            return 0;
        ev->type = MEMTAP_EV_ALLOC;
        ev->u.alloc.kind = type & 0x0f;
        ev->u.alloc.addr = s->last_addr + (uint64_t)memtap_unzigzag(delta);
        ev->u.alloc.size = size;
        ev->u.alloc.node = (uint32_t)node;
    } else if (type == MEMTAP_REC_FREE) {
        if (!fast_varint(&q, &delta))
            return 0;
        ev->type = MEMTAP_EV_FREE;
        ev->u.free.addr = s->last_addr + (uint64_t)memtap_unzigzag(delta);
        ev->u.free.len = 0;
    } else {
        return 0;
    }
    ev->offset = UINT64_MAX; /* found again from the queue if an error needs it */
    *key = k;
    return (size_t)(q - start);
}

/* A v4 thread's records decoded ahead of the merge (merge.h): when threads interleave, the
 * merge releases a record or two of one thread, then of another; parsing them one by one
 * between releases cost three times what decoding them in runs costs. */
#define AHEAD 64

struct memtap_ahead {
    memtap_bev_t ev[AHEAD];
    memtap_run_at_t at[AHEAD]; /* position in the frame's order, start from base */
    uint64_t base;             /* stream offset of the run's first byte, for errors */
};

/* Decodes up to AHEAD of thread s's next records (memtap_tmodel_run), its model learning
 * them, and consumes their bytes. Only records that start in the chunk the first one
 * starts in: each one's stream offset is then known. */
static void decode_ahead(memtap_decoder_t *d, memtap_msrc_t *s) {
    memtap_tmodel_t *model = s->model;
    if (!model || s->len - s->pos < MEMTAP_RUN_MARGIN || s->mark0 >= s->nmarks)
        return;
    size_t max = memtap_tmodel_run_room(model, AHEAD);
    if (max == 0 || (!s->ahead && !(s->ahead = malloc(sizeof *s->ahead))))
        return;
    size_t i = s->mark0; /* the chunk holding pos */
    while (i + 1 < s->nmarks && s->marks[i + 1].queue_pos <= s->pos)
        i++;
    size_t last = s->len - MEMTAP_RUN_MARGIN;
    if (i + 1 < s->nmarks && s->marks[i + 1].queue_pos - 1 < last)
        last = s->marks[i + 1].queue_pos - 1;
    const uint8_t *start = s->buf + s->pos, *p = start;
    memtap_run_bounds_t b = {.key = s->key,
                             .limit = UINT64_MAX, /* the merge orders them when released */
                             .nodes = UINT32_MAX, /* checked when released */
                             .version = d->version, .max_kind = d->max_kind};
    size_t n = memtap_tmodel_run(model, &p, s->buf + last, &b, s->ahead->ev, max, s->ahead->at);
    s->ahead->base = s->marks[i].stream_offset + (s->pos - s->marks[i].queue_pos);
    s->ahead_i = 0;
    s->ahead_n = (uint32_t)n;
    size_t used = (size_t)(p - start);
    s->pos += used;
    d->merge.pending -= used;
}

/* Sets s->next to the first record decoded ahead. */
static void next_from_ahead(memtap_msrc_t *s) {
    const memtap_bev_t *e = &s->ahead->ev[s->ahead_i];
    uint64_t pos = s->ahead->at[s->ahead_i].pos;
    s->next.type = (memtap_ev_type_t)e->type; /* (an ALLOC's or FREE's fields only) */
    s->next.offset = s->ahead->base + s->ahead->at[s->ahead_i].start;
    if (e->type == MEMTAP_EV_ALLOC) {
        s->next.u.alloc.kind = e->kind;
        s->next.u.alloc.addr = e->addr;
        s->next.u.alloc.size = e->size;
        s->next.u.alloc.node = e->node;
    } else {
        s->next.u.free.addr = e->addr;
        s->next.u.free.len = 0;
    }
    s->next_pos = pos;
    s->key_after = (pos + 1) >> 1; /* an ALLOC at 2k leaves k, a FREE at 2k + 1 k + 1 */
    s->next_len = 0;                  /* its bytes went when it was decoded */
    s->has_next = s->next_ahead = 1;
}

/* The merge's peek: source `id`'s next record, SKIPs before it applied to a copy of its key.
 * Source 0 holds the process's records, a thread's source only ALLOC, FREE and MUNMAP. */
static int peek_source(void *ctx, uint32_t id, memtap_msrc_t *s) {
    memtap_decoder_t *d = ctx;
    if (id && d->version >= 4) {
        if (s->ahead_i == s->ahead_n)
            decode_ahead(d, s);
        if (s->ahead_i < s->ahead_n) {
            s->peeked = 1;
            next_from_ahead(s);
            return MEMTAP_OK;
        }
    }
    const uint8_t *start = s->buf + s->pos, *end = s->buf + s->len;
    cursor_t c = {start, end, PARSE_OK, NULL};
    uint64_t key = s->key;
    s->peeked = 1;
    s->has_next = 0;
    size_t n;
    if (id && s->len - s->pos >= 48 &&
        (n = fast_thread_record(d, start, s, &key, &s->next)) != 0) {
        int is_free = s->next.type != MEMTAP_EV_ALLOC;
        s->next_pos = 2 * key + (uint64_t)is_free;
        s->key_after = key + (uint64_t)is_free;
        s->next_len = n;
        s->has_next = 1;
        return MEMTAP_OK;
    }
    for (;;) {
        const uint8_t *rec = c.p;
        uint64_t at = memtap_merge_offset(s, (size_t)(rec - s->buf));
        s->next_pos = 2 * key; /* least position of what follows, whole or not */
        if (rec == end)
            return MEMTAP_OK;
        if (*rec == MEMTAP_REC_SKIP) {
            c.p++;
            uint64_t skip = dec_get_varint(&c, "order key");
            if (c.status == PARSE_MORE)
                return MEMTAP_OK;
            if (c.status || skip > (UINT64_MAX >> 2) - key)
                return dec_fail(d, MEMTAP_ERR_CORRUPT, at, "order key out of range");
            key += skip;
            continue;
        }
        if ((id == 0) == is_thread_record(d, *rec) || *rec == MEMTAP_REC_THREAD_SWITCH ||
            *rec == MEMTAP_REC_CHUNK)
            return dec_fail(d, MEMTAP_ERR_CORRUPT, at, "record type 0x%02x in the records of %s",
                        *rec, id ? "a thread" : "the process");
        memset(&s->next, 0, sizeof s->next);
        if (id && d->version >= 4) {
            const char *why = NULL;
            long len = memtap_tmodel_parse(model_of(s), d->version, d->max_kind, rec, end,
                                           &s->next, &why);
            if (len == 0)
                return MEMTAP_OK;
            if (len < 0)
                return dec_fail(d, MEMTAP_ERR_CORRUPT, at, "%s (record type 0x%02x)", why, *rec);
            c.p = rec + len;
        } else {
            d->last_addr = s->last_addr;
            d->last_node = s->last_node;
            dec_parse_record(d, &c, &s->next);
            if (c.status == PARSE_MORE)
                return MEMTAP_OK;
            if (c.status == PARSE_BAD)
                return dec_fail(d, MEMTAP_ERR_CORRUPT, at, "%s (record type 0x%02x)", c.why,
                                *rec);
        }
        int is_free = s->next.type == MEMTAP_EV_FREE || s->next.type == MEMTAP_EV_MUNMAP;
        s->next.offset = at;
        s->next_pos = 2 * key + (uint64_t)is_free;
        s->key_after = key + (uint64_t)is_free;
        s->next_len = (size_t)(c.p - start);
        s->has_next = 1;
        return MEMTAP_OK;
    }
}

/* Where source s's next record starts: its type byte, after any SKIP before it (the fast
 * path leaves it to be found on error). */
static uint64_t record_offset(memtap_msrc_t *s) {
    if (s->next.offset != UINT64_MAX)
        return s->next.offset;
    const uint8_t *p = s->buf + s->pos;
    uint64_t skip;
    if (p < s->buf + s->len && *p == MEMTAP_REC_SKIP) {
        p++;
        if (memtap_varint_get(&p, s->buf + s->len, &skip) != 1)
            p = s->buf + s->pos;
    }
    return memtap_merge_offset(s, (size_t)(p - s->buf));
}

/* The next record in position order: 1 with ev filled, 0 when more chunks must be read
 * first (or nothing is left), or an error code (negative). */
int dec_merged_event(memtap_decoder_t *d, memtap_event_t *ev) {
    uint32_t id;
    int rc = memtap_merge_pick(&d->merge, peek_source, d, &id);
    if (rc != MEMTAP_OK)
        return d->error[0] ? -rc : -MEMTAP_ERR_NOMEM;
    if (id == UINT32_MAX)
        return 0;
    memtap_msrc_t *s = &d->merge.src[id];
    if (s->next_pos < d->merge.last_pos)
        return -dec_fail(d, MEMTAP_ERR_CORRUPT, record_offset(s),
                     "record out of order (below an earlier chunk's watermark)");
    /* A killed program may leave a thread's chunk in the file while the process's records
     * it needs (its THREAD, its stack nodes) were still in memory: what is left of a cut
     * frame is replayed without them, with no stack. In a whole frame it is corruption. */
    int cut = d->merge_closed && !d->frame_end;
    if (id != 0 && id != d->merged_thread) { /* (replay needs no THREAD_SWITCH) */
        if (id > d->threads && !cut)
            return -dec_fail(d, MEMTAP_ERR_CORRUPT, record_offset(s),
                         "records of thread %u before its THREAD record", id);
        d->merged_thread = id;
    }
    if (d->state == AFTER_TRAILER)
        return -dec_fail(d, MEMTAP_ERR_CORRUPT, record_offset(s), "record after the trailer");
    if (s->next.type == MEMTAP_EV_ALLOC && s->next.u.alloc.node > d->nodes && !cut)
        return -dec_fail(d, MEMTAP_ERR_CORRUPT, record_offset(s),
                     "allocation names a stack node not yet defined");
    *ev = s->next;
    if (id && !s->next_ahead && learn(d, s, ev, s->next_len) != MEMTAP_OK)
        return -MEMTAP_ERR_NOMEM;
    if (ev->type == MEMTAP_EV_ALLOC && ev->u.alloc.node > d->nodes)
        ev->u.alloc.node = 0;
    uint64_t pos = s->next_pos;
    memtap_merge_release(&d->merge, id);
    /* the same thread's next records may skip the merge while below its bound (the bound
     * only rises as chunks arrive); a record of the process's ends that */
    d->fast_id = 0;
    if (id && d->merge.bound_valid && d->merge.current == id &&
        (d->merge.bound_pos > 0 || id < d->merge.bound_src)) {
        d->fast_id = id;
        d->fast_limit = d->merge.bound_pos - (id > d->merge.bound_src ? 1 : 0);
    }
    rc = dec_commit(d, ev); /* its errors (a trailer's wrong totals) are recorded */
    if (rc == MEMTAP_OK && ev->type == MEMTAP_EV_THREAD) {
        rc = memtap_merge_announce(&d->merge, ev->u.thread.index, pos);
        if (rc == MEMTAP_ERR_CORRUPT)
            return -dec_fail(d, rc, ev->offset, "too many threads");
    }
    return rc == MEMTAP_OK ? 1 : -rc;
}

/* ALLOC and FREE of the thread the merge released from last, while they stay below the
 * bound the merge computed (merge.h), decoded without the general machinery. Returns 1 when
 * it delivered one, 0 to let merged_event decide (and judge). Checks are parse_record's and
 * merged_event's. */
int dec_fast_merged(memtap_decoder_t *d, memtap_event_t *ev) {
    memtap_merge_t *m = &d->merge;
    uint32_t id = d->fast_id;
    if (!id)
        return 0;
    memtap_msrc_t *s = &m->src[id];
    if (s->peeked || s->ahead_i < s->ahead_n || s->len - s->pos < 48)
        return 0;
    uint64_t key = s->key;
    size_t n = fast_thread_record(d, s->buf + s->pos, s, &key, ev);
    if (!n)
        return 0;
    int is_free = ev->type != MEMTAP_EV_ALLOC;
    uint64_t pos = 2 * key + (uint64_t)is_free; /* never below the thread's last: keys grow */
    if (pos > d->fast_limit || (!is_free && ev->u.alloc.node > d->nodes) ||
        (d->version >= 4 && memtap_tmodel_learning_allocates(s->model))) {
        /* another source goes first: the merge takes this record as parsed */
        s->next = *ev;
        s->next_pos = pos;
        s->key_after = key + (uint64_t)is_free;
        s->next_len = n;
        s->peeked = s->has_next = 1;
        d->fast_id = 0;
        return 0;
    }
    learn(d, s, ev, n); /* allocates nothing (checked above): cannot fail */
    if (is_free)
        d->frees++;
    else
        d->allocations++;
    s->pos += n;
    s->key = key + (uint64_t)is_free;
    m->pending -= n;
    m->last_pos = pos;
    return 1;
}

/* dec_fast_merged in a loop, for version 4: up to max of the fast source's ALLOC and FREE
 * records into out, while they stay below the merge's bound (memtap_tmodel_run). Returns
 * how many; the record it stopped before is the general path's. */
size_t dec_fast_run(memtap_decoder_t *d, memtap_bev_t *out, size_t max) {
    memtap_merge_t *m = &d->merge;
    uint32_t id = d->fast_id;
    if (!id || d->version < 4)
        return 0;
    memtap_msrc_t *s = &m->src[id];
    memtap_tmodel_t *model = s->model;
    if (s->peeked || s->ahead_i < s->ahead_n || !model || s->len - s->pos < MEMTAP_RUN_MARGIN)
        return 0;
    max = memtap_tmodel_run_room(model, max);
    const uint8_t *start = s->buf + s->pos, *p = start;
    memtap_run_bounds_t b = {.key = s->key,
                             .last_pos = m->last_pos,
                             .limit = d->fast_limit,
                             .nodes = d->nodes,
                             .version = d->version, .max_kind = d->max_kind};
    size_t n =
        memtap_tmodel_run(model, &p, s->buf + s->len - MEMTAP_RUN_MARGIN, &b, out, max, NULL);
    size_t used = (size_t)(p - start);
    s->pos += used;
    s->key = b.key;
    m->pending -= used;
    m->last_pos = b.last_pos;
    d->frees += b.frees;
    d->allocations += n - b.frees;
    return n;
}

/* The records decoded ahead (decode_ahead) released straight into out, choosing the next
 * source as memtap_merge_pick does when only the source released from last moved: what
 * dec_merged_event does, without its event copies. Returns how many; anything else (a
 * source whose next record was parsed the general way, the process's records, a check
 * that fails, chunks that changed the order) is left to the general path. */
size_t dec_fast_ahead(memtap_decoder_t *d, memtap_bev_t *out, size_t max) {
    memtap_merge_t *m = &d->merge;
    uint32_t id = m->current;
    if (d->version < 4 || !m->bound_valid || !m->order_valid || id == 0 || id >= m->nsrc ||
        id > d->threads || m->order[0] != id || d->state == AFTER_TRAILER)
        return 0;
    memtap_msrc_t *s = &m->src[id];
    if (s->peeked && !s->next_ahead)
        return 0; /* the merge holds a record parsed the general way */
    s->peeked = s->has_next = s->next_ahead = 0; /* what it peeked is released here */
    size_t i = 0, frees = 0;
    uint32_t nodes = d->nodes, threads = d->threads;
    uint64_t last_pos = m->last_pos;
    d->fast_id = 0;
    while (i < max) {
        if (s->ahead_i == s->ahead_n) {
            /* far below the bound (a thread running alone: thousands of records), its next
             * records are dec_fast_run's, straight from the bytes; close to it, decoded
             * ahead again */
            if (m->bound_pos - last_pos > 4 * AHEAD) {
                d->fast_id = id;
                d->fast_limit = m->bound_pos - (id > m->bound_src ? 1 : 0);
                break;
            }
            decode_ahead(d, s);
            if (s->ahead_i == s->ahead_n)
                break;
        }
        const memtap_bev_t *e = &s->ahead->ev[s->ahead_i];
        uint64_t pos = s->ahead->at[s->ahead_i].pos;
        if (!memtap_merge_before(pos, id, m->bound_pos, m->bound_src)) {
            /* another source goes first: this one's bound is its next record (peeked when
             * the merge needs it), and it moves to its place in the order */
            memtap_merge_move_front(m, pos);
            uint32_t best = m->order[0];
            memtap_msrc_t *t = &m->src[best];
            if (best == 0 || best > threads || t->ahead_i == t->ahead_n ||
                (t->peeked && !t->next_ahead) || m->bound[best] != t->ahead->at[t->ahead_i].pos)
                break; /* the general path chooses (the order is still right) */
            memtap_merge_choose_front(m);
            id = best;
            s = t;
            s->peeked = s->has_next = s->next_ahead = 0;
            continue;
        }
        if (pos < last_pos || (e->type == MEMTAP_EV_ALLOC && e->node > nodes))
            break;
        out[i++] = *e;
        frees += e->type != MEMTAP_EV_ALLOC;
        s->ahead_i++;
        s->key = (pos + 1) >> 1;
        last_pos = pos;
        d->merged_thread = id;
    }
    m->last_pos = last_pos;
    d->frees += frees;
    d->allocations += i - frees;
    return i;
}
