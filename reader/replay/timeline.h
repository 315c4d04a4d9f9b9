/* The replay's timeline, for the flamegraph page: the heap at about a thousand moments of
 * the run (each the instant where the heap was highest in its stretch of events, the peak
 * and the end always among them), and each allocation site on each thread ("thread site")
 * with its figures and its live memory at every moment, sparse. Kept by hooks in replay.c
 * once memtap_replay_use_timeline() asked for it; a few compares per event (timeline.c). */
#ifndef MEMTAP_READER_TIMELINE_H
#define MEMTAP_READER_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

#include "common/vec.h"
#include "memtap/hashtab.h"
#include "replay/replay.h"

/* Moments a timeline holds at most while it runs: when that many are there, each pair of
 * neighbours becomes its higher one and the stretches double, so a run ends with between
 * half of it and all of it, and one more for the end. */
#define MEMTAP_TIMELINE_MOMENTS 1536u

/* An allocation site on one thread. */
typedef struct {
    uint32_t site;   /* the replay's site (its stack) */
    uint32_t thread; /* index into the replay's threads; MEMTAP_NO_THREAD when unknown */
    uint32_t kinds;  /* bit k: allocator kind k allocated here */
    uint64_t live_bytes, live_blocks;
    uint64_t total_bytes, allocations;
    uint64_t temporary, temporary_bytes; /* allocations freed before any other (replay.c) */
    /* the lazy checkpoint (timeline.c) */
    uint64_t last_change;             /* the event that changed it last */
    uint64_t snap_bytes, snap_blocks; /* live at the open stretch's highest instant */
    uint64_t listed;                  /* the stretch whose list of changed sites holds it */
    uint64_t em_bytes, em_blocks;     /* its figures in its latest temporal entry */
} memtap_tsite_t;

/* A moment: the instant after event `seq`. */
typedef struct {
    uint64_t seq;
    uint64_t heap_bytes, heap_blocks;
    uint64_t rss;                /* the RSS of the latest TIME marker before it; 0: unknown */
    uint64_t prev_seq, prev_ms;  /* the time marker before it (0, 0: the start) */
    uint64_t next_seq, next_ms;  /* the one after it; next_seq 0: none (yet) */
    int next_time;               /* that one is a TIME marker (written with a record) */
    double t_ms;                 /* ms from the start, interpolated (memtap_timeline_finish) */
} memtap_moment_t;

/* Thread site `tsite` has `bytes` and `blocks` live from moment `moment` on, until its next
 * entry; it has one only where its figures changed since its previous one. */
typedef struct {
    uint32_t tsite, moment;
    uint64_t bytes, blocks;
} memtap_tl_entry_t;

typedef struct {
    uint32_t site, thread, tsite; /* tsite 0: empty slot */
} memtap_tsite_key_t;
typedef MEMTAP_HASHTAB(memtap_tsite_key_t) memtap_tsite_keys_t;

typedef struct memtap_timeline {
    MEMTAP_VEC(memtap_tsite_t) tsites; /* [0] unused */
    MEMTAP_VEC(uint32_t) first;        /* replay site -> its first thread site (0: none) */
    memtap_tsite_keys_t keys;          /* (site, thread) -> thread site, all of them */
    MEMTAP_VEC(memtap_moment_t) moments;
    MEMTAP_VEC(memtap_tl_entry_t) entries; /* by moment */
    MEMTAP_VEC(uint32_t) changed;          /* thread sites changed in the open stretch */
    size_t max_moments;
    uint64_t width;        /* events a stretch spans */
    uint64_t stretch;      /* the open stretch's number (from 1) */
    uint64_t stretch_start; /* its first event */
    int open;              /* a stretch is open (from the first event on) */
    memtap_moment_t best;  /* the open stretch's highest instant */
    uint64_t mark_seq, mark_ms, rss; /* the latest time marker, the latest RSS (0: none) */
    size_t unresolved;     /* moments[unresolved..] wait for the time marker after them */
    size_t peak_index;     /* after memtap_timeline_finish */
} memtap_timeline_t;

/* From now on, memtap_replay_init gives each replay a timeline of at most max_moments
 * (even, >= 4) moments; 0: none (the default). For the commands that write the page, whose
 * replay the shared loader (report.c) initialises. Not thread-safe; not inside malloc. */
void memtap_replay_use_timeline(size_t max_moments);

/* A new timeline (NULL when out of memory), and its release. */
memtap_timeline_t *memtap_timeline_new(size_t max_moments);
void memtap_timeline_free(memtap_timeline_t *tl);

/* --- hooks, called by replay.c only, r->seq being the event applied ------------------- */

uint32_t memtap_timeline_find_slow(const memtap_timeline_t *tl, uint32_t site, uint32_t thread);

/* The thread site of (site, thread), or 0. Most sites allocate on one thread only: their
 * first thread site answers without a hash lookup. Inline: the replay asks at each free. */
static inline uint32_t memtap_timeline_find(const memtap_timeline_t *tl, uint32_t site,
                                            uint32_t thread) {
    uint32_t id = site < tl->first.n ? tl->first.v[site] : 0;
    if (!id || tl->tsites.v[id].thread == thread)
        return id;
    return memtap_timeline_find_slow(tl, site, thread);
}

/* Thread site id changes by (dbytes, dblocks) at event seq: the lazy checkpoint
 * (timeline.c). */
static inline void memtap_timeline_change(memtap_timeline_t *tl, uint32_t id, uint64_t seq,
                                          int64_t dbytes, int64_t dblocks) {
    memtap_tsite_t *ts = &tl->tsites.v[id];
    if (ts->last_change <= tl->best.seq) { /* its first change since the highest instant */
        ts->snap_bytes = ts->live_bytes;
        ts->snap_blocks = ts->live_blocks;
    }
    ts->last_change = seq;
    if (ts->listed != tl->stretch) {
        ts->listed = tl->stretch;
        tl->changed.v[tl->changed.n++] = id; /* room for every thread site: made with it */
    }
    ts->live_bytes += (uint64_t)dbytes;
    ts->live_blocks += (uint64_t)dblocks;
}

/* A new thread site for (site, thread): its id, 0 when out of memory. */
uint32_t memtap_timeline_new_tsite(memtap_timeline_t *tl, uint32_t site, uint32_t thread);

/* An allocation of size bytes of kind at site by thread: the thread site's totals and live
 * figures. Returns 0, or -1 when out of memory. Inline: once an allocation. */
static inline int memtap_timeline_alloc(memtap_replay_t *r, uint32_t site, uint32_t thread,
                                        uint64_t size, unsigned kind) {
    memtap_timeline_t *tl = r->tl;
    uint32_t id = memtap_timeline_find(tl, site, thread);
    if (!id && !(id = memtap_timeline_new_tsite(tl, site, thread)))
        return -1;
    memtap_tsite_t *ts = &tl->tsites.v[id];
    ts->total_bytes += size;
    ts->allocations++;
    ts->kinds |= 1u << kind;
    memtap_timeline_change(tl, id, r->seq, (int64_t)size, 1);
    return 0;
}

/* Site's live figures on thread change (a free, an unmapping, an exec). The thread site
 * exists: its block was allocated. */
static inline void memtap_timeline_live(memtap_replay_t *r, uint32_t site, uint32_t thread,
                                        int64_t dbytes, int64_t dblocks) {
    uint32_t id = memtap_timeline_find(r->tl, site, thread);
    if (id)
        memtap_timeline_change(r->tl, id, r->seq, dbytes, dblocks);
}

/* The replay counted a temporary allocation of size bytes at site by thread. */
void memtap_timeline_temporary(memtap_replay_t *r, uint32_t site, uint32_t thread,
                               uint64_t size);

/* A time marker: ms from the start of the run; rss, or UINT64_MAX when the marker has none.
 * is_time: a TIME marker (written with the first record after each 100 ms: that record
 * happened then), else EXEC or EXIT. */
void memtap_timeline_time(memtap_replay_t *r, uint64_t ms, uint64_t rss, int is_time);

/* After an event that reached r->tl_next (a new stretch starts) or raised the heap above
 * r->tl_best (the stretch's highest instant so far). Returns 0, or -1 when out of memory. */
int memtap_timeline_step(memtap_replay_t *r);

/* After the last event: closes the last stretch, adds the end as the last moment, gives
 * each moment its time and finds the peak's. Returns 0, or -1 when out of memory. */
int memtap_timeline_finish(memtap_replay_t *r);

/* Figures of thread site ts at moment m, from the entries (after finish), into bytes[] and
 * blocks[] (tsites.n each, zeroed here): for the peak's per-site figures and the tests. */
void memtap_timeline_at(const memtap_timeline_t *tl, size_t m, uint64_t *bytes,
                        uint64_t *blocks);

#endif
