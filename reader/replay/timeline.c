/* The replay's timeline: moments of the heap, thread sites and their live memory at each
 * moment (timeline.h).
 *
 * How the moments are picked, without knowing how many events will come: the run is cut
 * into stretches of `width` events; a stretch's moment is its instant where the heap was
 * highest (the first such). When max_moments moments are there, each pair of neighbours
 * keeps its higher one (the earlier on a tie: the peak, the first instant of the highest
 * heap, always stays) and stretches double. So a stretch costs, per event, one compare of
 * the heap against the stretch's highest so far, and one of the event number against the
 * stretch's end (replay.c makes both inline).
 *
 * What each thread site held at a moment, exactly, without copying every site at every
 * instant the heap rises: a lazy checkpoint. A site changed after the stretch's highest
 * instant so far saves its figures at that instant (snap) at its first change since; it is
 * listed once per stretch when it changes. When the stretch closes, only the listed sites
 * are looked at: each one's figures at the moment are snap when it changed after the
 * moment, else its live figures; an entry is written when they differ from its previous
 * entry. A site changed after the moment stays listed for the next stretch. */
#include "replay/timeline.h"

#include <stdlib.h>
#include <string.h>

#include "memtap/varint.h"

#define MEMTAP_HT_NAME tsite_keys
#define MEMTAP_HT_TABLE memtap_tsite_keys_t
#define MEMTAP_HT_SLOT memtap_tsite_key_t
#define MEMTAP_HT_KEY memtap_tsite_key_t /* tsite 0 */
#define MEMTAP_HT_HASH(k) memtap_hash2((k).site, (k).thread)
#define MEMTAP_HT_SLOT_HASH(s) memtap_hash2((s)->site, (s)->thread)
#define MEMTAP_HT_EMPTY(s) ((s)->tsite == 0)
#define MEMTAP_HT_MATCH(s, k) ((s)->site == (k).site && (s)->thread == (k).thread)
#define MEMTAP_HT_ALLOC(bytes) calloc(1, (bytes))
#define MEMTAP_HT_FREE(p, bytes) free(p)
#include "memtap/hashtab.h"

memtap_timeline_t *memtap_timeline_new(size_t max_moments) {
    memtap_timeline_t *tl = calloc(1, sizeof *tl);
    if (!tl)
        return NULL;
    tl->max_moments = max_moments < 4 ? 4 : max_moments & ~(size_t)1;
    tl->width = 1;
    tl->stretch = 1; /* changes before the first stretch opens are listed for it */
    if (tsite_keys_init(&tl->keys, 256) < 0 || VEC_RESERVE(tl->tsites, 1) < 0 ||
        VEC_RESERVE(tl->moments, tl->max_moments + 1) < 0) {
        memtap_timeline_free(tl);
        return NULL;
    }
    memset(&tl->tsites.v[tl->tsites.n++], 0, sizeof(memtap_tsite_t));
    return tl;
}

void memtap_timeline_free(memtap_timeline_t *tl) {
    if (!tl)
        return;
    free(tl->tsites.v);
    free(tl->first.v);
    tsite_keys_destroy(&tl->keys);
    free(tl->moments.v);
    free(tl->entries.v);
    free(tl->changed.v);
    free(tl);
}

uint32_t memtap_timeline_find_slow(const memtap_timeline_t *tl, uint32_t site, uint32_t thread) {
    const memtap_tsite_key_t *k =
        tsite_keys_find(&tl->keys, (memtap_tsite_key_t){site, thread, 0});
    return k ? k->tsite : 0;
}

uint32_t memtap_timeline_new_tsite(memtap_timeline_t *tl, uint32_t site, uint32_t thread) {
    uint32_t id;
    if (VEC_RESERVE(tl->tsites, 1) < 0 || VEC_RESERVE(tl->changed, tl->tsites.n + 1) < 0)
        return 0;
    if (site >= tl->first.n) {
        size_t n = tl->first.n;
        if (VEC_RESERVE(tl->first, site + 1 - n) < 0)
            return 0;
        memset(tl->first.v + n, 0, (site + 1 - n) * sizeof *tl->first.v);
        tl->first.n = site + 1;
    }
    int found;
    memtap_tsite_key_t *k = tsite_keys_upsert(&tl->keys, (memtap_tsite_key_t){site, thread, 0},
                                              &found);
    if (!k)
        return 0;
    id = (uint32_t)tl->tsites.n++;
    *k = (memtap_tsite_key_t){site, thread, id};
    memtap_tsite_t *ts = &tl->tsites.v[id];
    memset(ts, 0, sizeof *ts);
    ts->site = site;
    ts->thread = thread;
    if (!tl->first.v[site])
        tl->first.v[site] = id;
    return id;
}

void memtap_timeline_temporary(memtap_replay_t *r, uint32_t site, uint32_t thread,
                               uint64_t size) {
    uint32_t id = memtap_timeline_find(r->tl, site, thread);
    if (id) {
        r->tl->tsites.v[id].temporary++;
        r->tl->tsites.v[id].temporary_bytes += size;
    }
}

void memtap_timeline_time(memtap_replay_t *r, uint64_t ms, uint64_t rss, int is_time) {
    memtap_timeline_t *tl = r->tl;
    for (size_t i = tl->unresolved; i < tl->moments.n; i++) {
        tl->moments.v[i].next_seq = r->seq;
        tl->moments.v[i].next_ms = ms;
        tl->moments.v[i].next_time = is_time;
    }
    tl->unresolved = tl->moments.n;
    if (tl->open && !tl->best.next_seq && tl->best.seq < r->seq) {
        tl->best.next_seq = r->seq;
        tl->best.next_ms = ms;
        tl->best.next_time = is_time;
    }
    tl->mark_seq = r->seq;
    tl->mark_ms = ms;
    if (rss != UINT64_MAX)
        tl->rss = rss;
}

/* The instant after the event just applied becomes the open stretch's highest. */
static void set_best(memtap_timeline_t *tl, const memtap_replay_t *r) {
    tl->best = (memtap_moment_t){.seq = r->seq,
                                 .heap_bytes = r->live_bytes,
                                 .heap_blocks = r->live_blocks,
                                 .rss = tl->rss,
                                 .prev_seq = tl->mark_seq,
                                 .prev_ms = tl->mark_ms};
}

/* An entry; room for it was reserved. */
static void add_entry(memtap_timeline_t *tl, uint32_t id, uint32_t moment, uint64_t bytes,
                      uint64_t blocks) {
    tl->entries.v[tl->entries.n++] = (memtap_tl_entry_t){id, moment, bytes, blocks};
    memtap_tsite_t *ts = &tl->tsites.v[id];
    ts->em_bytes = bytes;
    ts->em_blocks = blocks;
}

static int compact(memtap_timeline_t *tl);

/* Closes the open stretch: its highest instant becomes a moment, with an entry for each
 * listed site whose figures then differ from its previous entry. Sites changed after that
 * instant stay listed, for the next stretch. may_compact: halve the moments when full. */
static int close_stretch(memtap_timeline_t *tl, int may_compact) {
    uint32_t mi = (uint32_t)tl->moments.n;
    tl->moments.v[tl->moments.n++] = tl->best; /* room: reserved for max_moments + 1 */
    if (tl->best.next_seq && tl->unresolved == mi)
        tl->unresolved = mi + 1;
    size_t kept = 0;
    if (VEC_RESERVE(tl->entries, tl->changed.n) < 0)
        return -1;
    for (size_t i = 0; i < tl->changed.n; i++) {
        uint32_t id = tl->changed.v[i];
        memtap_tsite_t *ts = &tl->tsites.v[id];
        int after = ts->last_change > tl->best.seq;
        uint64_t bytes = after ? ts->snap_bytes : ts->live_bytes;
        uint64_t blocks = after ? ts->snap_blocks : ts->live_blocks;
        if (bytes != ts->em_bytes || blocks != ts->em_blocks)
            add_entry(tl, id, mi, bytes, blocks);
        if (after) {
            ts->listed = tl->stretch + 1;
            tl->changed.v[kept++] = id;
        } else {
            ts->listed = 0;
        }
    }
    tl->changed.n = kept;
    tl->stretch++;
    tl->open = 0;
    if (may_compact && tl->moments.n >= tl->max_moments) {
        if (compact(tl) < 0)
            return -1;
        tl->width *= 2;
    }
    return 0;
}

int memtap_timeline_step(memtap_replay_t *r) {
    memtap_timeline_t *tl = r->tl;
    if (r->seq >= r->tl_next) {
        if (tl->open && close_stretch(tl, 1) < 0)
            return -1;
        set_best(tl, r);
        tl->open = 1;
        tl->stretch_start = r->seq;
    } else {
        set_best(tl, r);
    }
    r->tl_next = tl->stretch_start + tl->width;
    r->tl_best = tl->best.heap_bytes;
    return 0;
}

/* Pairs of moments become their higher one (timeline.h). The entries of a moment dropped
 * move to the next moment kept, where that one has none of its own for the site; entries
 * that then repeat a site's figures go. Pending ones left at the end (the last moment was
 * dropped) are the next moment's to write: their sites are listed again. In place: no
 * more entries are written than read. */
static int compact(memtap_timeline_t *tl) {
    size_t nts = tl->tsites.n;
    uint64_t *cur = calloc(nts, 4 * sizeof *cur); /* figures written last, pending figures */
    uint64_t *stamp = calloc(nts, sizeof *stamp);  /* 2g+1: pending for the g-th moment
                                                      kept; 2g+2: an entry of its own there */
    uint32_t *pend = malloc(nts * sizeof *pend);
    if (!cur || !stamp || !pend) {
        free(cur);
        free(stamp);
        free(pend);
        return -1;
    }
    size_t npend = 0, rd = 0, wr = 0, n = tl->moments.n;
    uint32_t g = 0; /* moments kept so far */
    for (size_t m = 0; m < n; m++) {
        const memtap_moment_t *a = &tl->moments.v[m & ~(size_t)1], *b = a + 1;
        size_t keep = (m & ~(size_t)1) + (b->heap_bytes > a->heap_bytes);
        size_t end = rd;
        while (end < tl->entries.n && tl->entries.v[end].moment == m)
            end++;
        if (m != keep) {
            for (; rd < end; rd++) {
                uint32_t id = tl->entries.v[rd].tsite;
                if (stamp[id] != 2 * (uint64_t)g + 1) {
                    stamp[id] = 2 * (uint64_t)g + 1;
                    pend[npend++] = id;
                }
                cur[4 * id + 2] = tl->entries.v[rd].bytes;
                cur[4 * id + 3] = tl->entries.v[rd].blocks;
            }
            continue;
        }
        for (; rd < end; rd++) { /* its own entries: the latest figures */
            memtap_tl_entry_t e = tl->entries.v[rd];
            stamp[e.tsite] = 2 * (uint64_t)g + 2;
            if (e.bytes != cur[4 * e.tsite] || e.blocks != cur[4 * e.tsite + 1]) {
                cur[4 * e.tsite] = e.bytes;
                cur[4 * e.tsite + 1] = e.blocks;
                tl->entries.v[wr++] = (memtap_tl_entry_t){e.tsite, g, e.bytes, e.blocks};
            }
        }
        for (size_t i = 0; i < npend; i++) {
            uint32_t id = pend[i];
            if (stamp[id] == 2 * (uint64_t)g + 1 &&
                (cur[4 * id + 2] != cur[4 * id] || cur[4 * id + 3] != cur[4 * id + 1])) {
                cur[4 * id] = cur[4 * id + 2];
                cur[4 * id + 1] = cur[4 * id + 3];
                tl->entries.v[wr++] = (memtap_tl_entry_t){id, g, cur[4 * id], cur[4 * id + 1]};
            }
        }
        npend = 0;
        tl->moments.v[g++] = tl->moments.v[m];
    }
    tl->entries.n = wr;
    tl->moments.n = g;
    for (size_t i = 0; i < npend; i++) { /* dropped with the last moment: written anew */
        memtap_tsite_t *ts = &tl->tsites.v[pend[i]];
        ts->em_bytes = cur[4 * pend[i]];
        ts->em_blocks = cur[4 * pend[i] + 1];
        if (ts->listed != tl->stretch) {
            ts->listed = tl->stretch;
            tl->changed.v[tl->changed.n++] = pend[i];
        }
    }
    tl->unresolved = tl->moments.n;
    while (tl->unresolved > 0 && !tl->moments.v[tl->unresolved - 1].next_seq)
        tl->unresolved--;
    free(cur);
    free(stamp);
    free(pend);
    return 0;
}

/* Markers come with the first record after each 100 ms (format.md): the records between
 * marker A and the one that brought marker B happened within 100 ms after A, that one at
 * B's time. So an instant between them is placed by its event number over A's time to at
 * most 100 ms later (a pause of the program is not spread over its events), the record
 * before a TIME marker at the marker's time. */
#define MARKER_EVERY_MS 100

static double moment_ms(const memtap_moment_t *m) {
    uint64_t s = m->seq, a = m->prev_seq, b = m->next_seq;
    if (m->next_time && s + 1 >= b)
        return (double)m->next_ms;
    uint64_t last = m->next_time ? b - 1 : b; /* the events spread over the span */
    uint64_t span = m->next_ms > m->prev_ms ? m->next_ms - m->prev_ms : 0;
    if (span > MARKER_EVERY_MS)
        span = MARKER_EVERY_MS;
    if (last <= a)
        return (double)m->prev_ms;
    return (double)m->prev_ms + (double)span * (double)(s - a) / (double)(last - a);
}

int memtap_timeline_finish(memtap_replay_t *r) {
    memtap_timeline_t *tl = r->tl;
    if (tl->open && close_stretch(tl, 1) < 0)
        return -1;
    if (!tl->moments.n || tl->moments.v[tl->moments.n - 1].seq != r->seq) {
        set_best(tl, r); /* the end: every site's figures are its live ones */
        if (close_stretch(tl, 0) < 0)
            return -1;
    }
    r->tl_next = r->tl_best = UINT64_MAX;
    tl->peak_index = 0;
    for (size_t i = 0; i < tl->moments.n; i++) {
        memtap_moment_t *m = &tl->moments.v[i];
        if (!m->next_seq) { /* after the last marker: up to the end */
            m->next_seq = r->seq;
            m->next_ms = r->now_ms;
            m->next_time = 0;
        }
        m->t_ms = moment_ms(m);
        if (m->heap_bytes > tl->moments.v[tl->peak_index].heap_bytes)
            tl->peak_index = i;
    }
    return 0;
}

void memtap_timeline_at(const memtap_timeline_t *tl, size_t m, uint64_t *bytes,
                        uint64_t *blocks) {
    memset(bytes, 0, tl->tsites.n * sizeof *bytes);
    memset(blocks, 0, tl->tsites.n * sizeof *blocks);
    for (size_t i = 0; i < tl->entries.n && tl->entries.v[i].moment <= m; i++) {
        bytes[tl->entries.v[i].tsite] = tl->entries.v[i].bytes;
        blocks[tl->entries.v[i].tsite] = tl->entries.v[i].blocks;
    }
}
