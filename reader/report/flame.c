/* The flamegraph's model (flame.h): sites, their stacks as a tree of distinct frames, the
 * [other] sites, and the timeline's entries mapped onto the sites. */
#include "report/flame.h"

#include <stdlib.h>
#include <string.h>

#include "memtap/varint.h"
#include "symbolize/stack_view.h"

#define KEY_HASH(k) memtap_hash2((uint64_t)(k).a << 32 | (k).b, (uint64_t)(k).c << 32 | (k).d)
#define MEMTAP_HT_NAME fkeys
#define MEMTAP_HT_TABLE memtap_fkeys_t
#define MEMTAP_HT_SLOT memtap_fkey_t
#define MEMTAP_HT_KEY memtap_fkey_t /* id 0 */
#define MEMTAP_HT_HASH(k) KEY_HASH(k)
#define MEMTAP_HT_SLOT_HASH(s) KEY_HASH(*(s))
#define MEMTAP_HT_EMPTY(s) ((s)->id == 0)
#define MEMTAP_HT_MATCH(s, k) ((s)->a == (k).a && (s)->b == (k).b && (s)->c == (k).c && (s)->d == (k).d)
#define MEMTAP_HT_ALLOC(bytes) calloc(1, (bytes))
#define MEMTAP_HT_FREE(p, bytes) free(p)
#include "memtap/hashtab.h"

/* FNV-1a: strings are names and paths, short */
static uint64_t str_hash(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}
#define MEMTAP_HT_NAME fstrs
#define MEMTAP_HT_TABLE memtap_fstrs_t
#define MEMTAP_HT_SLOT memtap_fstr_t
#define MEMTAP_HT_KEY const char *
#define MEMTAP_HT_HASH(k) str_hash(k)
#define MEMTAP_HT_SLOT_HASH(s) str_hash((s)->str)
#define MEMTAP_HT_EMPTY(s) ((s)->id == 0)
#define MEMTAP_HT_MATCH(s, k) (!strcmp((s)->str, (k)))
#define MEMTAP_HT_ALLOC(bytes) calloc(1, (bytes))
#define MEMTAP_HT_FREE(p, bytes) free(p)
#include "memtap/hashtab.h"

const char *memtap_view_name(memtap_view_t v) {
    static const char *names[] = {"peak", "leaked", "total", "count", "temporary"};
    return v < MEMTAP_VIEW_COUNT_OF_VIEWS ? names[v] : "peak";
}

uint64_t memtap_fsite_value(const memtap_fsite_t *s, memtap_view_t v) {
    switch (v) {
    case MEMTAP_VIEW_PEAK:
        return s->peak_bytes;
    case MEMTAP_VIEW_LEAKED:
        return s->leaked_bytes;
    case MEMTAP_VIEW_TOTAL:
        return s->total_bytes;
    case MEMTAP_VIEW_COUNT:
        return s->allocations;
    default:
        return s->temporary;
    }
}

/* The id of string s (0 for NULL), kept once. UINT32_MAX when out of memory. */
static uint32_t string_id(memtap_flame_t *f, const char *s) {
    if (!s)
        return 0;
    int found;
    memtap_fstr_t *e = fstrs_upsert(&f->string_ids, s, &found);
    if (!e)
        return UINT32_MAX;
    if (found)
        return e->id;
    char *copy = strdup(s);
    if (!copy || VEC_RESERVE(f->strings, 1) < 0) {
        free(copy);
        *e = (memtap_fstr_t){"", UINT32_MAX}; /* counted already: keep the table sound */
        return UINT32_MAX;
    }
    f->strings.v[f->strings.n] = copy;
    *e = (memtap_fstr_t){copy, (uint32_t)f->strings.n++};
    return e->id;
}

/* The id of key (a, b, c, d) in t, next when new (*fresh = 1). UINT32_MAX when out of
 * memory. */
static uint32_t key_id(memtap_fkeys_t *t, uint32_t a, uint32_t b, uint32_t c, uint32_t d,
                       size_t next, int *fresh) {
    int found;
    memtap_fkey_t *k = fkeys_upsert(t, (memtap_fkey_t){a, b, c, d, 0}, &found);
    if (!k)
        return UINT32_MAX;
    if (!found)
        *k = (memtap_fkey_t){a, b, c, d, (uint32_t)next + 1};
    *fresh = !found;
    return k->id - 1;
}

static const char *base_name(const char *p) {
    const char *b = p ? strrchr(p, '/') : NULL;
    return b ? b + 1 : p;
}

/* A native frame inside the Python interpreter: libpython's, or the python executable's
 * own (Debian links libpython into it). */
static int in_interpreter(const char *module) {
    return module && (!strncmp(module, "libpython", 9) || !strncmp(module, "python", 6));
}

static uint32_t frame_id(memtap_flame_t *f, const char *name, const char *file,
                         const char *module, uint32_t line, unsigned kind) {
    uint32_t n = string_id(f, name), fi = string_id(f, file), m = string_id(f, module);
    if (n == UINT32_MAX || fi == UINT32_MAX || m == UINT32_MAX || VEC_RESERVE(f->frames, 1) < 0)
        return UINT32_MAX;
    int fresh;
    uint32_t id = key_id(&f->frame_ids, n | (uint32_t)kind << 30, fi, m, line, f->frames.n, &fresh);
    if (id != UINT32_MAX && fresh)
        f->frames.v[f->frames.n++] = (memtap_fframe_t){f->strings.v[n], f->strings.v[fi],
                                                       f->strings.v[m], line, (uint8_t)kind};
    return id;
}

static uint32_t node_id(memtap_flame_t *f, uint32_t parent, uint32_t frame) {
    if (frame == UINT32_MAX || parent == UINT32_MAX || VEC_RESERVE(f->parent, 1) < 0 ||
        VEC_RESERVE(f->frame, 1) < 0)
        return UINT32_MAX;
    int fresh;
    uint32_t id = key_id(&f->node_ids, parent, frame, 0, 0, f->parent.n, &fresh);
    if (id != UINT32_MAX && fresh) {
        f->parent.v[f->parent.n++] = (int32_t)parent;
        f->frame.v[f->frame.n++] = (int32_t)frame;
    }
    return id;
}

/* The flame node of the replay's stack ending at node. */
static uint32_t path_of(memtap_flame_t *f, memtap_symbolizer_t *sym, const memtap_replay_t *r,
                        uint32_t node, int python_only, memtap_stack_view_t *view) {
    if (node == 0)
        return node_id(f, 0, frame_id(f, "(no stack)", NULL, NULL, 0, MEMTAP_FK_NATIVE));
    if (memtap_stack_view(sym, r, node, python_only, view) < 0)
        return UINT32_MAX;
    uint32_t at = 0;
    for (size_t i = view->n; i-- > 0 && at != UINT32_MAX;) { /* outermost first */
        const memtap_frame_t *fr = &view->v[i];
        const char *module = fr->python ? NULL : base_name(fr->module);
        unsigned kind = fr->python               ? MEMTAP_FK_PYTHON
                        : in_interpreter(module) ? MEMTAP_FK_INTERPRETER
                                                 : MEMTAP_FK_NATIVE;
        at = node_id(f, at, frame_id(f, fr->function, fr->file, module, fr->line, kind));
    }
    return at;
}

static void add_figures(memtap_fsite_t *to, const memtap_fsite_t *s) {
    to->kinds |= s->kinds;
    to->peak_bytes += s->peak_bytes;
    to->peak_blocks += s->peak_blocks;
    to->leaked_bytes += s->leaked_bytes;
    to->leaked_blocks += s->leaked_blocks;
    to->total_bytes += s->total_bytes;
    to->allocations += s->allocations;
    to->temporary += s->temporary;
    to->temporary_bytes += s->temporary_bytes;
}

/* Whether site s reaches min_percent of some view's total. */
static int big_enough(const memtap_fsite_t *s, const uint64_t *totals, double min_percent) {
    if (min_percent <= 0)
        return 1;
    for (int v = 0; v < MEMTAP_VIEW_COUNT_OF_VIEWS; v++) {
        uint64_t x = memtap_fsite_value(s, (memtap_view_t)v);
        if (x > 0 && (double)x * 100.0 >= min_percent * (double)totals[v])
            return 1;
    }
    return 0;
}

size_t memtap_flame_keep_top = 1000;

/* For qsort by one view's value, largest first (ties: older site first). */
static const memtap_fsite_t *rank_sites;
static memtap_view_t rank_view;
static int by_value_desc(const void *a, const void *b) {
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    uint64_t x = memtap_fsite_value(&rank_sites[i], rank_view);
    uint64_t y = memtap_fsite_value(&rank_sites[j], rank_view);
    return x != y ? (x < y ? 1 : -1) : (i > j) - (i < j);
}

/* Marks in keep[] the memtap_flame_keep_top largest sites of each view (a value above 0):
 * a capture of many small stacks still shows its largest ones instead of one [other]. */
static int mark_top(const memtap_fsite_t *in, size_t n, uint8_t *keep) {
    if (n <= memtap_flame_keep_top) {
        memset(keep, 1, n);
        return 0;
    }
    uint32_t *idx = malloc(n * sizeof *idx);
    if (!idx)
        return -1;
    rank_sites = in;
    for (int v = 0; v < MEMTAP_VIEW_COUNT_OF_VIEWS; v++) {
        for (size_t i = 0; i < n; i++)
            idx[i] = (uint32_t)i;
        rank_view = (memtap_view_t)v;
        qsort(idx, n, sizeof *idx, by_value_desc);
        for (size_t k = 0; k < memtap_flame_keep_top; k++)
            if (memtap_fsite_value(&in[idx[k]], rank_view) > 0)
                keep[idx[k]] = 1;
    }
    free(idx);
    return 0;
}

int memtap_flame_build(memtap_flame_t *f, memtap_symbolizer_t *sym, const memtap_replay_t *r,
                       const memtap_fsite_t *in, size_t n, int python_only, double min_percent) {
    memset(f, 0, sizeof *f);
    f->min_percent = min_percent > 0 ? min_percent : 0;
    if (fstrs_init(&f->string_ids, 1024) < 0 || fkeys_init(&f->frame_ids, 1024) < 0 ||
        fkeys_init(&f->node_ids, 1024) < 0 || fkeys_init(&f->site_ids, 1024) < 0 ||
        VEC_RESERVE(f->strings, 1) < 0 || VEC_RESERVE(f->parent, 1) < 0 ||
        VEC_RESERVE(f->frame, 1) < 0 || !(f->site_of = malloc((n ? n : 1) * sizeof *f->site_of)))
        return -1;
    f->strings.v[f->strings.n++] = NULL;
    f->parent.v[f->parent.n++] = -1; /* the root */
    f->frame.v[f->frame.n++] = -1;
    uint64_t totals[MEMTAP_VIEW_COUNT_OF_VIEWS] = {0};
    for (size_t i = 0; i < n; i++)
        for (int v = 0; v < MEMTAP_VIEW_COUNT_OF_VIEWS; v++)
            totals[v] += memtap_fsite_value(&in[i], (memtap_view_t)v);
    uint8_t *top = calloc(n ? n : 1, 1);
    if (!top || (f->min_percent > 0 && mark_top(in, n, top) < 0)) {
        free(top);
        return -1;
    }
    memtap_stack_view_t view = {0};
    uint32_t other = 0; /* the [other] node, made when first needed */
    for (size_t i = 0; i < n; i++) {
        int big = top[i] || big_enough(&in[i], totals, f->min_percent);
        if (!big && !other)
            other = node_id(f, 0, frame_id(f, "[other]", NULL, NULL, 0, MEMTAP_FK_OTHER));
        uint32_t node = big ? path_of(f, sym, r, in[i].node, python_only, &view) : other;
        int fresh;
        uint32_t s = node == UINT32_MAX || VEC_RESERVE(f->sites, 1) < 0
                         ? UINT32_MAX
                         : key_id(&f->site_ids, node, in[i].thread, 0, 0, f->sites.n, &fresh);
        if (s == UINT32_MAX) {
            memtap_stack_view_free(&view);
            free(top);
            return -1;
        }
        if (fresh) {
            f->sites.v[f->sites.n] = (memtap_fsite_t){.node = node, .thread = in[i].thread};
            f->sites.n++;
        }
        add_figures(&f->sites.v[s], &in[i]);
        f->site_of[i] = s;
        f->merged += !big;
    }
    memtap_stack_view_free(&view);
    free(top);
    return 0;
}

void memtap_flame_free(memtap_flame_t *f) {
    for (size_t i = 0; i < f->strings.n; i++)
        free(f->strings.v[i]);
    free(f->strings.v);
    fstrs_destroy(&f->string_ids);
    fkeys_destroy(&f->frame_ids);
    fkeys_destroy(&f->node_ids);
    fkeys_destroy(&f->site_ids);
    free(f->frames.v);
    free(f->parent.v);
    free(f->frame.v);
    free(f->sites.v);
    free(f->site_of);
    memset(f, 0, sizeof *f);
}

memtap_fsite_t *memtap_flame_sites(const memtap_replay_t *r, size_t *n) {
    const memtap_timeline_t *tl = r->tl;
    size_t count = tl ? tl->tsites.n - 1 : r->sites.n - 1;
    memtap_fsite_t *out = calloc(count ? count : 1, sizeof *out);
    uint64_t *bytes = tl ? malloc(tl->tsites.n * sizeof *bytes) : NULL;
    uint64_t *blocks = tl ? malloc(tl->tsites.n * sizeof *blocks) : NULL;
    if (!out || (tl && (!bytes || !blocks))) {
        free(out);
        free(bytes);
        free(blocks);
        return NULL;
    }
    if (tl)
        memtap_timeline_at(tl, tl->peak_index, bytes, blocks);
    for (size_t i = 0; i < count; i++) {
        memtap_fsite_t *o = &out[i];
        if (tl) {
            const memtap_tsite_t *t = &tl->tsites.v[i + 1];
            *o = (memtap_fsite_t){r->sites.v[t->site].node, t->thread, t->kinds,
                                  bytes[i + 1], blocks[i + 1], t->live_bytes, t->live_blocks,
                                  t->total_bytes, t->allocations, t->temporary,
                                  t->temporary_bytes};
        } else {
            const memtap_site_t *s = &r->sites.v[i + 1];
            *o = (memtap_fsite_t){s->node, 0, s->kinds, memtap_site_peak_bytes(r, s), 0,
                                  s->live_bytes, s->live_blocks, s->total_bytes, s->count,
                                  s->temporary, 0};
        }
    }
    free(bytes);
    free(blocks);
    *n = count;
    return out;
}

size_t memtap_flame_temporal(const memtap_flame_t *f, const memtap_tl_entry_t *in, size_t n,
                             size_t ntsites, memtap_tl_entry_t *out) {
    size_t nsites = f->sites.n;
    uint64_t *prev = calloc(ntsites ? 2 * ntsites : 1, sizeof *prev); /* each tsite's figures */
    uint64_t *sum = calloc(nsites ? 2 * nsites : 1, sizeof *sum);     /* each site's */
    uint32_t *seen = calloc(nsites ? nsites : 1, sizeof *seen);       /* moment + 1 */
    uint32_t *touched = malloc((nsites ? nsites : 1) * sizeof *touched);
    size_t *start = calloc(nsites + 1, sizeof *start);
    memtap_tl_entry_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (!prev || !sum || !seen || !touched || !start || !tmp) {
        free(prev), free(sum), free(seen), free(touched), free(start), free(tmp);
        return (size_t)-1;
    }
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        uint32_t moment = in[i].moment;
        size_t ntouched = 0;
        for (; i < n && in[i].moment == moment; i++) {
            uint32_t ts = in[i].tsite, s = f->site_of[ts - 1];
            sum[2 * s] += in[i].bytes - prev[2 * ts];
            sum[2 * s + 1] += in[i].blocks - prev[2 * ts + 1];
            prev[2 * ts] = in[i].bytes;
            prev[2 * ts + 1] = in[i].blocks;
            if (seen[s] != moment + 1) {
                seen[s] = moment + 1;
                touched[ntouched++] = s;
            }
        }
        for (size_t k = 0; k < ntouched; k++) {
            uint32_t s = touched[k];
            tmp[w++] = (memtap_tl_entry_t){s, moment, sum[2 * s], sum[2 * s + 1]};
            start[s + 1]++;
        }
    }
    /* by site, each site's in moment order: a counting sort (stable), no comparisons */
    for (size_t s = 0; s < nsites; s++)
        start[s + 1] += start[s];
    for (size_t i = 0; i < w; i++)
        out[start[tmp[i].tsite]++] = tmp[i];
    free(prev), free(sum), free(seen), free(touched), free(start), free(tmp);
    return w;
}
