/* An image's records in position order: CHUNKs go to their source's queue (merge.c), and
 * records come back out of the merge one at a time, checked (the validating path), or by
 * the thousand while one thread's records need no merge (the fast paths of batches).
 * May call: merge.h, thread_record.h, records.c (through decoder_internal.h). */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "decode/decoder_internal.h"
#include "decode/thread_record.h"
#include "memtap/varint.h"

void dec_parse_chunk(memtap_decoder_t *d, cursor_t *c) {
    if (*c->p++ != MEMTAP_REC_CHUNK)
        return dec_bad(c, "an image holds only chunks after its header");
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
    /* the process's record peeked but not released points into its queue (a path, a name):
     * when the queue moves to make room, it is parsed again (parsing has no side effect) */
    const uint8_t *queue = source == 0 && d->merge.nsrc ? d->merge.src[0].buf : NULL;
    size_t front = source == 0 && d->merge.nsrc ? d->merge.src[0].pos : 0;
    int rc = memtap_merge_add(&d->merge, (uint32_t)source, watermark, p, n,
                              d->win_offset + (uint64_t)(p - d->win), &why);
    if (rc != MEMTAP_OK)
        return dec_bad(c, why);
    if (source == 0 && (d->merge.src[0].buf != queue || d->merge.src[0].pos != front))
        d->merge.src[0].peeked = d->merge.src[0].has_next = 0;
}

/* A thread's records decoded ahead of the merge (merge.h): when threads interleave, the
 * merge releases a record or two of one thread, then of another; decoding them one by one
 * between releases cost three times what decoding them in runs costs. */
#define AHEAD 64

struct memtap_ahead {
    memtap_bev_t ev[AHEAD];
    memtap_run_at_t at[AHEAD]; /* position in the image's order, start from base */
    uint64_t base;             /* stream offset of the run's first byte, for errors */
};

/* Decodes up to AHEAD of thread s's next records (memtap_thread_run), its model learning
 * them, and consumes their bytes. Only records that start in the chunk the first one
 * starts in: each one's stream offset is then known. */
static void decode_ahead(memtap_decoder_t *d, memtap_msrc_t *s) {
    memtap_tmodel_t *model = s->model;
    if (!model || s->len - s->pos < MEMTAP_THREAD_MARGIN || s->mark0 >= s->nmarks)
        return;
    size_t max = memtap_tmodel_room(model, AHEAD);
    if (max == 0 || (!s->ahead && !(s->ahead = malloc(sizeof *s->ahead))))
        return;
    size_t i = s->mark0; /* the chunk holding pos */
    while (i + 1 < s->nmarks && s->marks[i + 1].queue_pos <= s->pos)
        i++;
    size_t last = s->len - MEMTAP_THREAD_MARGIN;
    if (i + 1 < s->nmarks && s->marks[i + 1].queue_pos - 1 < last)
        last = s->marks[i + 1].queue_pos - 1;
    const uint8_t *start = s->buf + s->pos, *p = start;
    /* no bounds: the merge orders them when released, and checks their nodes then */
    memtap_thread_t t = memtap_thread_begin(model, s->key, UINT64_MAX, UINT32_MAX);
    size_t n = memtap_thread_run(&t, &p, s->buf + last, s->ahead->ev, max, s->ahead->at);
    memtap_thread_end(&t, model);
    s->ahead->base = s->marks[i].stream_offset + (s->pos - s->marks[i].queue_pos);
    s->ahead_i = 0;
    s->ahead_n = (uint32_t)n;
    size_t used = (size_t)(p - start);
    s->pos += used;
    d->merge.pending -= used;
}

/* The event of thread record r. */
static void thread_event(const memtap_bev_t *r, uint64_t offset, memtap_event_t *ev) {
    ev->type = (memtap_ev_type_t)r->type;
    ev->offset = offset;
    if (r->type == MEMTAP_EV_ALLOC) {
        ev->u.alloc.kind = r->kind;
        ev->u.alloc.addr = r->addr;
        ev->u.alloc.size = r->size;
        ev->u.alloc.node = r->node;
    } else {
        ev->u.free.addr = r->addr;
        ev->u.free.len = r->size;
    }
}

/* The thread's next record is at position pos (an ALLOC's is 2k, a FREE's or MUNMAP's
 * 2k + 1, k being its key): the source's key after it, and that it is waiting. */
static void set_next(memtap_msrc_t *s, uint64_t pos, size_t len) {
    s->next_pos = pos;
    s->key_after = (pos + 1) >> 1;
    s->next_len = len;
    s->has_next = 1;
}

/* Sets s->next to the first record decoded ahead (its bytes went when it was decoded). */
static void next_from_ahead(memtap_msrc_t *s) {
    thread_event(&s->ahead->ev[s->ahead_i], s->ahead->base + s->ahead->at[s->ahead_i].start,
                 &s->next);
    set_next(s, s->ahead->at[s->ahead_i].pos, 0);
    s->next_ahead = 1;
}

/* The thread's record at rec (its key: key), decoded and checked; its model learns it now
 * (the thread's next record is decoded only once this one is released). */
static int peek_thread(memtap_decoder_t *d, memtap_msrc_t *s, const uint8_t *rec, uint64_t key,
                       uint64_t at) {
    if (!memtap_thread_record_type(*rec))
        return dec_fail(d, MEMTAP_ERR_CORRUPT, at, "record type 0x%02x in the records of a thread",
                        *rec);
    if ((!s->model && !(s->model = memtap_tmodel_new())) ||
        memtap_tmodel_make_room(s->model) != MEMTAP_OK)
        return MEMTAP_ERR_NOMEM;
    const char *why = NULL;
    const uint8_t *next;
    memtap_bev_t r;
    memtap_thread_t t = memtap_thread_begin(s->model, key, UINT64_MAX, UINT32_MAX);
    int rc = memtap_thread_step(&t, rec, s->buf + s->len, 1, &next, &r, &why);
    if (rc == TR_MORE)
        return MEMTAP_OK;
    if (rc != TR_TAKEN)
        return dec_fail(d, MEMTAP_ERR_CORRUPT, at, "%s (record type 0x%02x)", why, *rec);
    memtap_thread_end(&t, s->model);
    thread_event(&r, at, &s->next);
    set_next(s, t.pos, (size_t)(next - (s->buf + s->pos)));
    return MEMTAP_OK;
}

/* The process's record at rec (its key: key), parsed and checked. */
static int peek_process(memtap_decoder_t *d, memtap_msrc_t *s, const uint8_t *rec, uint64_t key,
                        uint64_t at) {
    if (memtap_thread_record_type(*rec) || *rec == MEMTAP_REC_CHUNK)
        return dec_fail(d, MEMTAP_ERR_CORRUPT, at, "record type 0x%02x in the records of the "
                        "process", *rec);
    cursor_t c = {rec, s->buf + s->len, PARSE_OK, NULL};
    memset(&s->next, 0, sizeof s->next);
    dec_parse_process_record(d, &c, &s->next);
    if (c.status == PARSE_MORE)
        return MEMTAP_OK;
    if (c.status == PARSE_BAD)
        return dec_fail(d, MEMTAP_ERR_CORRUPT, at, "%s (record type 0x%02x)", c.why, *rec);
    s->next.offset = at;
    s->next_pos = 2 * key;
    s->key_after = key;
    s->next_len = (size_t)(c.p - (s->buf + s->pos));
    s->has_next = 1;
    return MEMTAP_OK;
}

/* The merge's peek: source `id`'s next record, the SKIPs before it applied to a copy of
 * its key. Source 0 holds the process's records, a thread's source only its own. */
static int peek_source(void *ctx, uint32_t id, memtap_msrc_t *s) {
    memtap_decoder_t *d = ctx;
    s->peeked = 1;
    s->has_next = 0;
    if (id) {
        if (s->ahead_i == s->ahead_n)
            decode_ahead(d, s);
        if (s->ahead_i < s->ahead_n) {
            next_from_ahead(s);
            return MEMTAP_OK;
        }
    }
    const uint8_t *end = s->buf + s->len;
    cursor_t c = {s->buf + s->pos, end, PARSE_OK, NULL};
    uint64_t key = s->key;
    for (;;) {
        s->next_pos = 2 * key; /* least position of what follows, whole or not */
        if (c.p == end)
            return MEMTAP_OK;
        uint64_t at = memtap_merge_offset(s, (size_t)(c.p - s->buf));
        uint64_t skip = memtap_skip_short(*c.p);
        if (skip) {
            c.p++;
        } else if (*c.p != MEMTAP_REC_SKIP) {
            return id ? peek_thread(d, s, c.p, key, at) : peek_process(d, s, c.p, key, at);
        } else {
            c.p++;
            skip = dec_get_varint(&c, "order key");
            if (c.status == PARSE_MORE)
                return MEMTAP_OK;
        }
        if (c.status || skip > (UINT64_MAX >> 2) - key)
            return dec_fail(d, MEMTAP_ERR_CORRUPT, at, "order key out of range");
        key += skip;
    }
}

/* Thread source s's record is released: when the thread ended and nothing of it is left,
 * its model goes. */
static void drop_model_if_done(memtap_msrc_t *s) {
    if (s->watermark == MEMTAP_WATERMARK_CLOSED && s->pos + s->next_len >= s->len &&
        s->ahead_i + s->next_ahead >= s->ahead_n) {
        memtap_tmodel_free(s->model);
        s->model = NULL;
    }
}

/* The checks of a record released from source id (the merge found it next in order).
 * Returns MEMTAP_OK or the error. */
static int check_release(memtap_decoder_t *d, uint32_t id, memtap_msrc_t *s) {
    if (s->next_pos < d->merge.last_pos)
        return dec_fail(d, MEMTAP_ERR_CORRUPT, s->next.offset,
                        "record out of order (below an earlier chunk's watermark)");
    /* A killed program may leave a thread's chunk in the file while the process's records
     * it needs (its THREAD, its stack nodes) were still in memory: what is left of a cut
     * image is replayed without them, with no stack. In a whole image it is corruption. */
    int cut = d->merge_closed && d->image_end != MEMTAP_IMAGE_WHOLE;
    if (id != 0 && id != d->merged_thread) {
        if (id > d->threads && !cut)
            return dec_fail(d, MEMTAP_ERR_CORRUPT, s->next.offset,
                            "records of thread %u before its THREAD record", id);
        d->merged_thread = id;
    }
    if (d->state == AFTER_TRAILER)
        return dec_fail(d, MEMTAP_ERR_CORRUPT, s->next.offset, "record after the trailer");
    if (s->next.type == MEMTAP_EV_ALLOC && s->next.u.alloc.node > d->nodes) {
        if (!cut)
            return dec_fail(d, MEMTAP_ERR_CORRUPT, s->next.offset,
                            "allocation names a stack node not yet defined");
        s->next.u.alloc.node = 0;
    }
    return MEMTAP_OK;
}

int dec_merged_event(memtap_decoder_t *d, memtap_event_t *ev) {
    uint32_t id;
    int rc = memtap_merge_pick(&d->merge, peek_source, d, &id);
    if (rc != MEMTAP_OK)
        return d->error[0] ? -rc : -MEMTAP_ERR_NOMEM;
    if (id == UINT32_MAX)
        return 0;
    memtap_msrc_t *s = &d->merge.src[id];
    if (check_release(d, id, s) != MEMTAP_OK)
        return -MEMTAP_ERR_CORRUPT;
    if (id)
        drop_model_if_done(s);
    *ev = s->next;
    if (ev->type == MEMTAP_EV_ALLOC)
        ev->u.alloc.thread = id;
    uint64_t pos = s->next_pos;
    memtap_merge_release(&d->merge, id);
    /* the same thread's next records may skip the merge while below its bound (the bound
     * only rises as chunks arrive); a record of the process's ends that */
    memtap_merge_t *m = &d->merge;
    d->fast_id = 0;
    if (id && m->bound_valid && m->current == id && (m->bound_pos > 0 || id < m->bound_src)) {
        d->fast_id = id;
        d->fast_limit = m->bound_pos - (id > m->bound_src ? 1 : 0);
    }
    rc = dec_commit(d, ev); /* its errors (a trailer's wrong totals) are recorded */
    if (rc == MEMTAP_OK && ev->type == MEMTAP_EV_THREAD) {
        rc = memtap_merge_announce(m, ev->u.thread.index, pos);
        if (rc == MEMTAP_ERR_CORRUPT)
            return -dec_fail(d, rc, ev->offset, "too many threads");
    }
    return rc == MEMTAP_OK ? 1 : -rc;
}

size_t dec_fast_run(memtap_decoder_t *d, memtap_bev_t *out, size_t max) {
    memtap_merge_t *m = &d->merge;
    uint32_t id = d->fast_id;
    if (!id)
        return 0;
    memtap_msrc_t *s = &m->src[id];
    memtap_tmodel_t *model = s->model;
    if (s->peeked || s->ahead_i < s->ahead_n || !model || s->len - s->pos < MEMTAP_THREAD_MARGIN)
        return 0;
    max = memtap_tmodel_room(model, max);
    const uint8_t *start = s->buf + s->pos, *p = start;
    memtap_thread_t t = memtap_thread_begin(model, s->key, d->fast_limit, d->nodes);
    t.pos = m->last_pos;
    size_t n = memtap_thread_run(&t, &p, s->buf + s->len - MEMTAP_THREAD_MARGIN, out, max, NULL);
    memtap_thread_end(&t, model);
    for (size_t k = 0, th = memtap_bev_thread(id); k < n; k++)
        out[k].thread = (uint16_t)th; /* the reader tells threads' sites apart */
    size_t used = (size_t)(p - start);
    s->pos += used;
    s->key = t.key;
    m->pending -= used;
    m->last_pos = t.pos;
    d->frees += t.nfrees;
    d->allocations += n - t.nfrees;
    return n;
}

/* dec_fast_ahead found the thread it releases from must give way at position pos: it
 * moves to its place, and the source now first takes over if its next record was decoded
 * ahead too. Returns that source, or 0 to leave the choice to the general path (the order
 * is still right). */
static uint32_t give_way(memtap_merge_t *m, uint32_t threads, uint64_t pos) {
    memtap_merge_move_front(m, pos);
    uint32_t best = m->order[0];
    memtap_msrc_t *t = &m->src[best];
    if (best == 0 || best > threads || t->ahead_i == t->ahead_n ||
        (t->peeked && !t->next_ahead) || m->bound[best] != t->ahead->at[t->ahead_i].pos)
        return 0;
    memtap_merge_choose_front(m);
    t->peeked = t->has_next = t->next_ahead = 0;
    return best;
}

size_t dec_fast_ahead(memtap_decoder_t *d, memtap_bev_t *out, size_t max) {
    memtap_merge_t *m = &d->merge;
    uint32_t id = m->current;
    if (!m->bound_valid || !m->order_valid || id == 0 || id >= m->nsrc || id > d->threads ||
        m->order[0] != id || d->state == AFTER_TRAILER)
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
            if (!(id = give_way(m, threads, pos)))
                break;
            s = &m->src[id];
            continue;
        }
        if (pos < last_pos || (e->type == MEMTAP_EV_ALLOC && e->node > nodes))
            break;
        out[i] = *e;
        out[i++].thread = memtap_bev_thread(id);
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
