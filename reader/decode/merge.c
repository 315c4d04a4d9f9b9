/* Position-order release of an image's per-source records (see merge.h). May call:
 * thread_record.h (a source's model is freed with it). */
#include "decode/merge.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "decode/thread_record.h"

static int grow_sources(memtap_merge_t *m, uint32_t n);

void memtap_merge_free(memtap_merge_t *m) {
    for (uint32_t i = 0; i < m->nsrc; i++) {
        free(m->src[i].buf);
        free(m->src[i].marks);
        free(m->src[i].ahead);
        memtap_tmodel_free(m->src[i].model);
    }
    free(m->src);
    free(m->order);
    free(m->bound);
    memset(m, 0, sizeof *m);
}

void memtap_merge_reset(memtap_merge_t *m) {
    memtap_merge_free(m);
    if (grow_sources(m, 1) == 0) /* source 0, the process's own records */
        m->src[0].known = 1;
}

static int grow_sources(memtap_merge_t *m, uint32_t n) {
    uint32_t *order = realloc(m->order, (size_t)n * sizeof *order);
    if (order)
        m->order = order;
    uint64_t *bound = realloc(m->bound, (size_t)n * sizeof *bound);
    if (bound)
        m->bound = bound;
    memtap_msrc_t *s = order && bound ? realloc(m->src, (size_t)n * sizeof *s) : NULL;
    if (!s)
        return -1;
    memset(s + m->nsrc, 0, (size_t)(n - m->nsrc) * sizeof *s);
    m->src = s;
    m->nsrc = n;
    m->bound_valid = m->order_valid = 0;
    return 0;
}

/* Room for n more bytes at the end of s's queue, moving what is left to the front. */
static int make_room(memtap_msrc_t *s, size_t n) {
    if (s->pos > 0 && (s->pos >= s->len / 2 || s->cap - s->len < n)) {
        memmove(s->buf, s->buf + s->pos, s->len - s->pos);
        for (size_t i = s->mark0; i < s->nmarks; i++)
            s->marks[i].queue_pos = s->marks[i].queue_pos > s->pos ? s->marks[i].queue_pos - s->pos : 0;
        s->len -= s->pos;
        s->pos = 0;
    }
    if (s->cap - s->len >= n)
        return 0;
    size_t cap = s->cap ? s->cap : 4096;
    while (cap - s->len < n)
        cap *= 2;
    uint8_t *b = realloc(s->buf, cap);
    if (!b)
        return -1;
    s->buf = b;
    s->cap = cap;
    return 0;
}

static int add_mark(memtap_msrc_t *s, uint64_t queue_pos, uint64_t stream_offset) {
    if (s->mark0 > 0 && s->mark0 == s->nmarks)
        s->mark0 = s->nmarks = 0;
    if (s->nmarks == s->marks_cap) {
        if (s->mark0 > 0) {
            memmove(s->marks, s->marks + s->mark0, (s->nmarks - s->mark0) * sizeof *s->marks);
            s->nmarks -= s->mark0;
            s->mark0 = 0;
        } else {
            size_t cap = s->marks_cap ? 2 * s->marks_cap : 8;
            memtap_merge_mark_t *p = realloc(s->marks, cap * sizeof *p);
            if (!p)
                return -1;
            s->marks = p;
            s->marks_cap = cap;
        }
    }
    s->marks[s->nmarks++] = (memtap_merge_mark_t){queue_pos, stream_offset};
    return 0;
}

int memtap_merge_add(memtap_merge_t *m, uint32_t source, uint64_t watermark, const uint8_t *p,
                     size_t n, uint64_t stream_offset, const char **why) {
    if (source >= MEMTAP_MERGE_MAX_SOURCES) {
        *why = "chunk of a source number out of range";
        return MEMTAP_ERR_CORRUPT;
    }
    if (source >= m->nsrc && grow_sources(m, source + 1) < 0)
        return MEMTAP_ERR_NOMEM;
    memtap_msrc_t *s = &m->src[source];
    s->known = 1;
    m->order_valid = 0;
    if (watermark < s->watermark) {
        *why = "chunk watermark goes back";
        return MEMTAP_ERR_CORRUPT;
    }
    s->watermark = watermark;
    if (n > 0) {
        if (m->pending + n > MEMTAP_MERGE_MAX_PENDING) {
            *why = "the records of its threads cannot be put in order with 1 GiB of memory";
            return MEMTAP_ERR_CORRUPT;
        }
        if (make_room(s, n) < 0 || add_mark(s, s->len, stream_offset) < 0)
            return MEMTAP_ERR_NOMEM;
        memcpy(s->buf + s->len, p, n);
        s->len += n;
        m->pending += n;
        if (!s->has_next)
            s->peeked = 0; /* a cut record: parsed again with the new bytes */
    }
    return MEMTAP_OK;
}

int memtap_merge_announce(memtap_merge_t *m, uint32_t source, uint64_t pos) {
    if (source >= MEMTAP_MERGE_MAX_SOURCES)
        return MEMTAP_ERR_CORRUPT;
    if (source >= m->nsrc && grow_sources(m, source + 1) < 0)
        return MEMTAP_ERR_NOMEM;
    memtap_msrc_t *s = &m->src[source];
    if (!s->known && s->watermark < pos)
        s->watermark = pos;
    s->known = 1;
    m->bound_valid = m->order_valid = 0;
    return MEMTAP_OK;
}

void memtap_merge_close(memtap_merge_t *m) {
    for (uint32_t i = 0; i < m->nsrc; i++)
        m->src[i].watermark = UINT64_MAX;
    m->closed = 1;
    m->bound_valid = m->order_valid = 0;
}

/* Parses s's next record if that was not done since its bytes last changed. */
static int ensure_peeked(memtap_msrc_t *s, uint32_t id, memtap_merge_peek_fn peek, void *ctx) {
    if (s->peeked || s->pos == s->len)
        return MEMTAP_OK;
    return peek(ctx, id, s);
}

/* What source s may still release: (position, source) pairs, compared in that order. */
static uint64_t lower_bound(const memtap_merge_t *m, const memtap_msrc_t *s) {
    if (!s->known) /* a thread not announced yet: its THREAD record holds it back */
        return UINT64_MAX;
    if (s->has_next)
        return s->next_pos;
    if (s->pos < s->len && !m->closed) /* a record cut at a chunk's end: its least position */
        return s->next_pos;
    return s->watermark;
}

void memtap_merge_move_front(memtap_merge_t *m, uint64_t bound) {
    uint32_t id0 = m->order[0], j = 0;
    m->bound[id0] = bound;
    while (j + 1 < m->nsrc &&
           memtap_merge_before(m->bound[m->order[j + 1]], m->order[j + 1], bound, id0)) {
        m->order[j] = m->order[j + 1];
        j++;
    }
    m->order[j] = id0;
}

void memtap_merge_choose_front(memtap_merge_t *m) {
    m->current = m->order[0];
    m->bound_src = m->nsrc > 1 ? m->order[1] : UINT32_MAX;
    m->bound_pos = m->nsrc > 1 ? m->bound[m->bound_src] : UINT64_MAX;
    m->bound_valid = 1;
}

int memtap_merge_pick(memtap_merge_t *m, memtap_merge_peek_fn peek, void *ctx, uint32_t *id) {
    *id = UINT32_MAX;
    if (m->bound_valid && m->current < m->nsrc) {
        memtap_msrc_t *s = &m->src[m->current];
        int rc = ensure_peeked(s, m->current, peek, ctx);
        if (rc != MEMTAP_OK)
            return rc;
        if (s->has_next &&
            memtap_merge_before(s->next_pos, m->current, m->bound_pos, m->bound_src)) {
            *id = m->current;
            return MEMTAP_OK;
        }
    }
    /* choose again: the least bound of all sources must be a waiting record (else a source
     * with nothing yet may still send an earlier one); the next least bounds it */
    if (!m->order_valid) {
        for (uint32_t i = 0; i < m->nsrc; i++) {
            int rc = ensure_peeked(&m->src[i], i, peek, ctx);
            if (rc != MEMTAP_OK)
                return rc;
            m->bound[i] = lower_bound(m, &m->src[i]);
            uint32_t j = i; /* insertion sort: a handful of sources */
            while (j > 0 &&
                   memtap_merge_before(m->bound[i], i, m->bound[m->order[j - 1]], m->order[j - 1])) {
                m->order[j] = m->order[j - 1];
                j--;
            }
            m->order[j] = i;
        }
        m->order_valid = 1;
    } else if (m->nsrc > 0) {
        /* only the source released from last changed: move it back to its place */
        uint32_t id0 = m->order[0];
        int rc = ensure_peeked(&m->src[id0], id0, peek, ctx);
        if (rc != MEMTAP_OK)
            return rc;
        memtap_merge_move_front(m, lower_bound(m, &m->src[id0]));
    }
    m->bound_valid = 0;
    if (m->nsrc == 0)
        return MEMTAP_OK;
    /* a source with records decoded ahead may have moved to the front unpeeked (its bound
     * is its next record's position all the same) */
    int rc = ensure_peeked(&m->src[m->order[0]], m->order[0], peek, ctx);
    if (rc != MEMTAP_OK)
        return rc;
    if (!m->src[m->order[0]].has_next)
        return MEMTAP_OK;
    memtap_merge_choose_front(m);
    *id = m->current;
    return MEMTAP_OK;
}

void memtap_merge_release(memtap_merge_t *m, uint32_t id) {
    memtap_msrc_t *s = &m->src[id];
    m->last_pos = s->next_pos;
    s->pos += s->next_len;
    m->pending -= s->next_len;
    s->key = s->key_after;
    s->peeked = s->has_next = 0;
    s->next_len = 0;
    s->ahead_i += (uint32_t)s->next_ahead;
    s->next_ahead = 0;
    while (s->mark0 + 1 < s->nmarks && s->marks[s->mark0 + 1].queue_pos <= s->pos)
        s->mark0++;
}

uint64_t memtap_merge_offset(memtap_msrc_t *s, size_t q) {
    if (s->mark0 == s->nmarks)
        return 0;
    /* marks before pos are dropped here (the decoder's fast path does not) */
    while (s->mark0 + 1 < s->nmarks && s->marks[s->mark0 + 1].queue_pos <= s->pos)
        s->mark0++;
    size_t i = s->mark0; /* q is near the front of the queue: search from there */
    while (i + 1 < s->nmarks && s->marks[i + 1].queue_pos <= q)
        i++;
    return s->marks[i].stream_offset + (q - s->marks[i].queue_pos);
}
