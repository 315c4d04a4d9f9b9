/* Replay of capture events into the process model. */
#include "replay/replay.h"

#include <stdlib.h>
#include <string.h>

#include "memtap/varint.h"
#include "replay/timeline.h"

/* (image, parent, frame) -> global node id */
typedef struct {
    uint64_t frame;
    uint32_t image, parent;
} node_key_t;

#define MEMTAP_HT_NAME node_keys
#define MEMTAP_HT_TABLE memtap_node_keys_t
#define MEMTAP_HT_SLOT memtap_node_key_t
#define MEMTAP_HT_KEY node_key_t
#define MEMTAP_HT_HASH(k) memtap_hash2((k).frame, (uint64_t)(k).image << 32 | (k).parent)
#define MEMTAP_HT_SLOT_HASH(s) memtap_hash2((s)->frame, (uint64_t)(s)->image << 32 | (s)->parent)
#define MEMTAP_HT_EMPTY(s) ((s)->id == 0)
#define MEMTAP_HT_MATCH(s, k)                                                                      \
    ((s)->frame == (k).frame && (s)->parent == (k).parent && (s)->image == (k).image)
#define MEMTAP_HT_ALLOC(bytes) calloc(1, (bytes))
#define MEMTAP_HT_FREE(p, bytes) free(p)
#include "memtap/hashtab.h"

/* (image, code object id) -> index in py_codes */
typedef struct {
    uint64_t id;
    uint32_t image;
} code_key_t;

#define MEMTAP_HT_NAME code_index
#define MEMTAP_HT_TABLE memtap_py_code_index_t
#define MEMTAP_HT_SLOT memtap_py_code_slot_t
#define MEMTAP_HT_KEY code_key_t
#define MEMTAP_HT_HASH(k) memtap_hash2((k).id, (k).image)
#define MEMTAP_HT_SLOT_HASH(s) memtap_hash2((s)->id, (s)->image)
#define MEMTAP_HT_EMPTY(s) ((s)->index1 == 0)
#define MEMTAP_HT_MATCH(s, k) ((s)->id == (k).id && (s)->image == (k).image)
#define MEMTAP_HT_ALLOC(bytes) calloc(1, (bytes))
#define MEMTAP_HT_FREE(p, bytes) free(p)
#include "memtap/hashtab.h"

int memtap_vec_reserve_by(void *(*realloc_fn)(void *, size_t), void **v, size_t *cap, size_t need,
                          size_t elem) {
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *p = realloc_fn(*v, c * elem);
    if (!p)
        return -1; /* *cap stays what *v holds */
    *v = p;
    *cap = c;
    return 0;
}

int memtap_vec_reserve(void **v, size_t *cap, size_t need, size_t elem) {
    return memtap_vec_reserve_by(realloc, v, cap, need, elem);
}

/* Moments of the timelines memtap_replay_init makes (0: none). */
static size_t timeline_moments;

void memtap_replay_use_timeline(size_t max_moments) { timeline_moments = max_moments; }

int memtap_replay_init(memtap_replay_t *r) {
    memset(r, 0, sizeof *r);
    r->tl_next = r->tl_best = UINT64_MAX;
    if (timeline_moments && !(r->tl = memtap_timeline_new(timeline_moments)))
        return -1;
    if (r->tl)
        r->tl_next = 0; /* the first event opens the first stretch */
    if (node_keys_init(&r->node_keys, 1024) < 0 || code_index_init(&r->py_code_index, 256) < 0 ||
        memtap_addrmap_init(&r->live) < 0 || VEC_RESERVE(r->nodes, 1) < 0 ||
        VEC_RESERVE(r->site_of_node, 1) < 0 || VEC_RESERVE(r->sites, 1) < 0 ||
        VEC_RESERVE(r->local_nodes, 1) < 0)
        return -1;
    r->local_nodes.v[r->local_nodes.n++] = 0; /* local 0 is the root */
    r->nodes.v[r->nodes.n++] = (memtap_node_t){0, 0, 0};
    r->site_of_node.v[r->site_of_node.n++] = 0;
    memset(&r->sites.v[r->sites.n++], 0, sizeof(memtap_site_t));
    return 0;
}

void memtap_replay_free(memtap_replay_t *r) {
    free(r->leak_order);
    free(r->leak_staged);
    for (size_t i = 0; i < r->images.n; i++) {
        free(r->images.v[i].exe);
        free(r->images.v[i].cmdline);
    }
    for (size_t i = 0; i < r->modules.n; i++)
        free(r->modules.v[i].path);
    free(r->images.v);
    free(r->modules.v);
    free(r->nodes.v);
    free(r->site_of_node.v);
    free(r->sites.v);
    free(r->threads.v);
    free(r->regions.v);
    free(r->local_nodes.v);
    free(r->local_threads.v);
    node_keys_destroy(&r->node_keys);
    for (size_t i = 0; i < r->py_codes.n; i++) {
        free(r->py_codes.v[i].qualname);
        free(r->py_codes.v[i].filename);
    }
    free(r->py_codes.v);
    code_index_destroy(&r->py_code_index);
    memtap_addrmap_free(&r->live);
    memtap_timeline_free(r->tl);
    r->tl = NULL;
}

uint64_t memtap_site_peak_bytes(const memtap_replay_t *r, const memtap_site_t *s) {
    return s->last_change <= r->peak_seq ? s->live_bytes : s->peak_snap;
}

/* Changes a site's live bytes, first saving what it held at the peak if this is its first
 * change since then (so per-site peak figures cost O(1) per event). The timeline's thread
 * site is site_live's to change (below); on_alloc changes it with its totals. */
static inline __attribute__((always_inline)) void
site_live_only(memtap_replay_t *r, uint32_t site, int64_t dbytes, int64_t dblocks) {
    memtap_site_t *s = &r->sites.v[site];
    if (s->last_change <= r->peak_seq)
        s->peak_snap = s->live_bytes;
    s->last_change = r->seq;
    s->live_bytes += (uint64_t)dbytes;
    s->live_blocks += (uint64_t)dblocks;
    r->live_bytes += (uint64_t)dbytes;
    r->live_blocks += (uint64_t)dblocks;
}

static inline __attribute__((always_inline)) void
site_live(memtap_replay_t *r, uint32_t site, uint32_t thread, int64_t dbytes, int64_t dblocks) {
    site_live_only(r, site, dbytes, dblocks);
    if (r->tl)
        memtap_timeline_live(r, site, thread, dbytes, dblocks);
}

static memtap_image_t *image(memtap_replay_t *r) { return &r->images.v[r->images.n - 1]; }

static char *dup_bytes(const char *s, size_t n, int nul_to_space) {
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    if (nul_to_space) {
        while (n > 0 && d[n - 1] == '\0')
            n--;
        d[n] = '\0';
        for (size_t i = 0; i < n; i++)
            if (d[i] == '\0')
                d[i] = ' ';
    }
    return d;
}

static void set_thread_name(memtap_thread_t *t, const char *name, size_t n) {
    if (n > sizeof t->name - 1)
        n = sizeof t->name - 1;
    memcpy(t->name, name, n);
    t->name[n] = '\0';
}

/* Everything the image held vanishes with its address space (exec): not a leak. */
static void drop_live(memtap_replay_t *r) {
    for (size_t i = 0; i <= r->live.mask; i++) {
        memtap_block_t *b = &r->live.slots[i];
        if (b->used)
            site_live(r, b->site, b->thread, -(int64_t)b->size, -1);
        b->used = 0;
    }
    r->live.count = 0;
    for (size_t i = 0; i < r->regions.n; i++)
        site_live(r, r->regions.v[i].site, r->regions.v[i].thread, -(int64_t)r->regions.v[i].len,
                  -1);
    r->regions.n = 0;
}

/* A header (a new LZ4 frame): a new image, or the same image again after a failed exec
 * (CONTINUED). */
static int on_header(memtap_replay_t *r, const memtap_event_t *ev) {
    r->local_nodes.n = 1;
    r->local_threads.n = 0;
    if (r->headers++ == 0)
        r->first_start_ns = ev->u.header.start_unix_ns;
    /* each LZ4 frame keeps its own clock: place each by its wall-clock start */
    uint64_t start = ev->u.header.start_unix_ns;
    r->time_base = start > r->first_start_ns ? (start - r->first_start_ns) / 1000000u : 0;
    if (r->images.n > 0 && (ev->u.header.flags & MEMTAP_HDR_CONTINUED))
        return 0;
    if (r->images.n > 0)
        drop_live(r);
    if (VEC_RESERVE(r->images, 1) < 0)
        return -1;
    memtap_image_t *im = &r->images.v[r->images.n++];
    memset(im, 0, sizeof *im);
    im->pid = ev->u.header.pid;
    im->ppid = ev->u.header.ppid;
    im->start_unix_ns = ev->u.header.start_unix_ns;
    im->flags = ev->u.header.flags;
    im->exe = dup_bytes(ev->u.header.exe, ev->u.header.exe_len, 0);
    im->cmdline = dup_bytes(ev->u.header.cmdline, ev->u.header.cmdline_len, 1);
    im->first_thread = (uint32_t)r->threads.n;
    return im->exe && im->cmdline ? 0 : -1;
}

/* NODE: the next local id names the global node for (image, parent, frame). */
__attribute__((noinline)) static int on_node(memtap_replay_t *r, const memtap_event_t *ev) {
    uint32_t img = (uint32_t)r->images.n - 1;
    uint32_t parent = r->local_nodes.v[ev->u.node.parent];
    uint64_t frame = ev->u.node.frame;
    if (VEC_RESERVE(r->nodes, 1) < 0 || VEC_RESERVE(r->site_of_node, 1) < 0 ||
        VEC_RESERVE(r->local_nodes, 1) < 0)
        return -1;
    int found;
    memtap_node_key_t *k =
        node_keys_upsert(&r->node_keys, (node_key_t){frame, img, parent}, &found);
    if (!k)
        return -1;
    if (!found) {
        *k = (memtap_node_key_t){frame, img, parent, (uint32_t)r->nodes.n};
        r->nodes.v[r->nodes.n++] = (memtap_node_t){frame, parent, img};
        r->site_of_node.v[r->site_of_node.n++] = 0;
    }
    r->local_nodes.v[r->local_nodes.n++] = k->id;
    return 0;
}

const memtap_py_code_t *memtap_replay_py_code(const memtap_replay_t *r, uint32_t image,
                                              uint64_t id) {
    const memtap_py_code_slot_t *c = code_index_find(&r->py_code_index, (code_key_t){id, image});
    return c ? &r->py_codes.v[c->index1 - 1] : NULL;
}

/* PY_CODE: every LZ4 frame of an image defines the codes it uses; the same id in one image
 * is the same code, so a repeated definition changes nothing. */
__attribute__((noinline)) static int on_py_code(memtap_replay_t *r, const memtap_event_t *ev) {
    code_key_t key = {ev->u.py_code.id, (uint32_t)r->images.n - 1};
    if (code_index_find(&r->py_code_index, key))
        return 0;
    if (VEC_RESERVE(r->py_codes, 1) < 0)
        return -1;
    memtap_py_code_t *c = &r->py_codes.v[r->py_codes.n];
    c->image = key.image;
    c->id = key.id;
    c->firstline = (uint32_t)ev->u.py_code.firstline;
    c->qualname = dup_bytes(ev->u.py_code.qualname, ev->u.py_code.qualname_len, 1);
    c->filename = dup_bytes(ev->u.py_code.filename, ev->u.py_code.filename_len, 1);
    int found;
    memtap_py_code_slot_t *e =
        c->qualname && c->filename ? code_index_upsert(&r->py_code_index, key, &found) : NULL;
    if (!e) {
        free(c->qualname);
        free(c->filename);
        return -1;
    }
    *e = (memtap_py_code_slot_t){key.id, key.image, (uint32_t)++r->py_codes.n};
    return 0;
}

/* MAIN_DONE: what each site of this image holds now is its "held when main finished". */
static void on_main_done(memtap_replay_t *r, uint64_t ms) {
    uint32_t img = (uint32_t)r->images.n - 1;
    memtap_image_t *im = image(r);
    if (im->main_done)
        return;
    im->main_done = 1;
    im->main_done_ms = r->time_base + ms;
    r->main_done = 1;
    for (size_t i = 1; i < r->sites.n; i++) {
        memtap_site_t *s = &r->sites.v[i];
        if (s->image == img) {
            s->held_bytes = s->live_bytes;
            s->held_blocks = s->live_blocks;
            s->held_set = 1;
        }
    }
}

/* THREAD: a thread already seen in an earlier LZ4 frame of the image keeps its entry. */
static int on_thread(memtap_replay_t *r, const memtap_event_t *ev) {
    const memtap_image_t *im = image(r);
    uint32_t found = UINT32_MAX;
    for (size_t i = im->first_thread; i < r->threads.n; i++)
        if (r->threads.v[i].tid == ev->u.thread.tid)
            found = (uint32_t)i;
    if (found == UINT32_MAX) {
        if (VEC_RESERVE(r->threads, 1) < 0)
            return -1;
        found = (uint32_t)r->threads.n++;
        r->threads.v[found].image = (uint32_t)r->images.n - 1;
        r->threads.v[found].tid = ev->u.thread.tid;
    }
    if (VEC_RESERVE(r->local_threads, 1) < 0)
        return -1;
    r->local_threads.v[r->local_threads.n++] = found;
    set_thread_name(&r->threads.v[found], ev->u.thread.name, ev->u.thread.name_len);
    return 0;
}

static int on_module(memtap_replay_t *r, const memtap_event_t *ev) {
    uint32_t img = (uint32_t)r->images.n - 1;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t i = 0; i < ev->u.module.nseg; i++) {
        const memtap_seg_t *s = &ev->u.module.segs[i];
        uint64_t a = ev->u.module.bias + s->vaddr;
        if (a < lo)
            lo = a;
        if (a + s->memsz > hi)
            hi = a + s->memsz;
    }
    for (size_t i = r->modules.n; i-- > 0 && r->modules.v[i].image == img;) {
        memtap_module_t *m = &r->modules.v[i];
        if (m->bias == ev->u.module.bias && m->lo == lo && strlen(m->path) == ev->u.module.path_len &&
            !memcmp(m->path, ev->u.module.path, ev->u.module.path_len))
            return 0; /* the same module listed again after a dlopen */
    }
    if (VEC_RESERVE(r->modules, 1) < 0)
        return -1;
    memtap_module_t *m = &r->modules.v[r->modules.n];
    m->path = dup_bytes(ev->u.module.path, ev->u.module.path_len, 0);
    if (!m->path)
        return -1;
    m->bias = ev->u.module.bias;
    m->build_id_len = ev->u.module.build_id_len;
    if (m->build_id_len)
        memcpy(m->build_id, ev->u.module.build_id, m->build_id_len);
    m->lo = lo;
    m->hi = hi;
    m->image = img;
    r->modules.n++;
    return 0;
}

const memtap_module_t *memtap_replay_module(const memtap_replay_t *r, uint32_t img, uint64_t ip) {
    for (size_t i = r->modules.n; i-- > 0;) {
        const memtap_module_t *m = &r->modules.v[i];
        if (m->image == img && ip >= m->lo && ip < m->hi)
            return m;
    }
    return NULL;
}

/* The replay's thread of an allocation by thread source `source` (1, 2, ...: the image's
 * THREAD records in order; memtap_bev_thread); MEMTAP_NO_THREAD when unknown. */
static inline uint32_t thread_of(const memtap_replay_t *r, uint32_t source) {
    if (source == 0 || source > r->local_threads.n || source >= MEMTAP_BEV_THREAD_MAX)
        return MEMTAP_NO_THREAD;
    uint32_t t = r->local_threads.v[source - 1];
    return t < MEMTAP_NO_THREAD ? t : MEMTAP_NO_THREAD;
}

/* Inline into the batch loop, like on_free and site_live: calls cost a sixth of an event. */
static inline __attribute__((always_inline)) int
on_alloc(memtap_replay_t *r, uint64_t addr, uint64_t size, uint32_t local, unsigned kind,
         uint32_t source) {
    uint32_t node = r->local_nodes.v[local];
    uint32_t thread = thread_of(r, source);
    uint32_t site = r->site_of_node.v[node];
    if (!site) {
        if (VEC_RESERVE(r->sites, 1) < 0)
            return -1;
        site = (uint32_t)r->sites.n++;
        memset(&r->sites.v[site], 0, sizeof(memtap_site_t));
        r->sites.v[site].node = node;
        r->sites.v[site].image = (uint32_t)r->images.n - 1;
        r->site_of_node.v[node] = site;
    }
    memtap_site_t *s = &r->sites.v[site];
    s->total_bytes += size;
    s->count++;
    s->kinds |= 1u << kind;
    r->allocations++;
    r->bytes_allocated += size;
    r->kinds[kind].count++;
    r->kinds[kind].bytes += size;

    if (kind == MEMTAP_KIND_MMAP) {
        if (VEC_RESERVE(r->regions, 1) < 0)
            return -1;
        r->regions.v[r->regions.n++] = (memtap_region_t){addr, size, site, thread, 0};
    } else {
        int existed;
        memtap_block_t *b = memtap_addrmap_upsert(&r->live, addr, &existed);
        if (!b)
            return -1;
        if (existed) /* the block there was never freed to us */
            site_live(r, b->site, b->thread, -(int64_t)b->size, -1);
        b->size = size;
        b->site = site;
        b->thread = thread & MEMTAP_NO_THREAD;
        b->kind = kind & 0xfu;
        b->leak_class = 0;
    }
    site_live_only(r, site, (int64_t)size, 1);
    if (r->tl && memtap_timeline_alloc(r, site, thread, size, kind) < 0)
        return -1;
    r->last_alloc_addr = addr;
    r->last_alloc_site = site;
    if (r->live_bytes > r->peak_bytes) {
        r->peak_bytes = r->live_bytes;
        r->peak_blocks = r->live_blocks;
        r->peak_seq = r->seq;
        r->peak_ms = r->now_ms;
    }
    return 0;
}

static inline __attribute__((always_inline)) void on_free(memtap_replay_t *r, uint64_t addr) {
    memtap_block_t b;
    if (!memtap_addrmap_take(&r->live, addr, &b)) {
        r->unknown_frees++; /* allocated before tracking started, or by another image */
        return;
    }
    site_live(r, b.site, b.thread, -(int64_t)b.size, -1);
    r->frees++;
    r->kinds[b.kind].frees++;
    if (r->last_alloc_site == b.site && r->last_alloc_addr == addr) {
        r->temporary++; /* freed before anything else was allocated: a temporary */
        r->sites.v[b.site].temporary++;
        r->last_alloc_site = 0;
        if (r->tl)
            memtap_timeline_temporary(r, b.site, b.thread, b.size);
    }
}

/* munmap may cover several mappings, or part of one (which may split it in two). */
static int on_munmap(memtap_replay_t *r, uint64_t addr, uint64_t len) {
    uint64_t end = addr + len;
    int touched = 0;
    for (size_t i = 0; i < r->regions.n;) {
        memtap_region_t *g = &r->regions.v[i];
        uint64_t gend = g->addr + g->len;
        if (gend <= addr || g->addr >= end) {
            i++;
            continue;
        }
        touched = 1;
        uint32_t site = g->site, thread = g->thread;
        if (addr <= g->addr && end >= gend) { /* whole mapping */
            site_live(r, site, thread, -(int64_t)g->len, -1);
            r->kinds[MEMTAP_KIND_MMAP].frees++;
            r->regions.v[i] = r->regions.v[--r->regions.n];
            continue;
        }
        uint64_t cut_lo = addr > g->addr ? addr : g->addr, cut_hi = end < gend ? end : gend;
        site_live(r, site, thread, -(int64_t)(cut_hi - cut_lo), 0);
        if (cut_lo > g->addr && cut_hi < gend) { /* a hole in the middle: two mappings */
            if (VEC_RESERVE(r->regions, 1) < 0)
                return -1;
            g = &r->regions.v[i];
            r->regions.v[r->regions.n++] = (memtap_region_t){cut_hi, gend - cut_hi, site, thread, 0};
            g->len = cut_lo - g->addr;
            site_live(r, site, thread, 0, 1);
        } else if (cut_lo > g->addr) {
            g->len = cut_lo - g->addr;
        } else {
            g->addr = cut_hi;
            g->len = gend - cut_hi;
        }
        i++;
    }
    if (touched)
        r->frees++;
    else
        r->unknown_frees++;
    return 0;
}

/* Whether the timeline's step is due after the event just applied (see memtap_replay_t):
 * two compares an event, never true without a timeline. */
static inline __attribute__((always_inline)) int timeline_due(const memtap_replay_t *r) {
    return __builtin_expect(r->seq >= r->tl_next || r->live_bytes > r->tl_best, 0);
}

/* memtap_replay_event without the timeline's step. */
static int apply(memtap_replay_t *r, const memtap_event_t *ev) {
    r->seq++;
    switch (ev->type) {
    case MEMTAP_EV_HEADER:
        return on_header(r, ev);
    case MEMTAP_EV_MODULE:
        return on_module(r, ev);
    case MEMTAP_EV_NODE:
        return on_node(r, ev);
    case MEMTAP_EV_ALLOC:
        return on_alloc(r, ev->u.alloc.addr, ev->u.alloc.size, ev->u.alloc.node,
                        ev->u.alloc.kind, ev->u.alloc.thread);
    case MEMTAP_EV_FREE:
        on_free(r, ev->u.free.addr);
        return 0;
    case MEMTAP_EV_MUNMAP:
        return on_munmap(r, ev->u.free.addr, ev->u.free.len);
    case MEMTAP_EV_THREAD:
        return on_thread(r, ev);
    case MEMTAP_EV_THREAD_NAME: {
        const char *name = ev->u.thread.name;
        set_thread_name(&r->threads.v[r->local_threads.v[ev->u.thread.index - 1]], name,
                        ev->u.thread.name_len);
        return 0;
    }
    case MEMTAP_EV_TIME:
    case MEMTAP_EV_EXEC:
    case MEMTAP_EV_EXIT: {
        uint64_t t = r->time_base + ev->u.time.ms;
        if (t > r->now_ms)
            r->now_ms = t;
        if (ev->u.time.rss > r->max_rss)
            r->max_rss = ev->u.time.rss;
        if (ev->type != MEMTAP_EV_TIME)
            image(r)->ended = ev->type == MEMTAP_EV_EXIT ? 1 : 2;
        if (r->tl) /* only TIME markers carry the RSS */
            memtap_timeline_time(r, r->now_ms,
                                 ev->type == MEMTAP_EV_TIME ? ev->u.time.rss : UINT64_MAX,
                                 ev->type == MEMTAP_EV_TIME);
        return 0;
    }
    case MEMTAP_EV_PY_CODE:
        return on_py_code(r, ev);
    case MEMTAP_EV_MAIN_DONE:
        on_main_done(r, ev->u.time.ms);
        return 0;
    case MEMTAP_EV_LEAK_SCAN:
        return memtap_replay_leak_scan(r, ev);
    case MEMTAP_EV_LEAK_CLASSES:
        memtap_replay_leak_classes(r, ev);
        return 0;
    case MEMTAP_EV_END:
        r->complete = ev->u.end.complete;
        return 0;
    default:
        return 0;
    }
}

int memtap_replay_event(memtap_replay_t *r, const memtap_event_t *ev) {
    if (apply(r, ev) < 0)
        return -1;
    return timeline_due(r) ? memtap_timeline_step(r) : 0;
}

int memtap_replay_batch(memtap_replay_t *r, const memtap_batch_t *b) {
    for (size_t i = 0, n = b->n; i < n; i++) {
        const memtap_bev_t *e = &b->ev[i];
        int rc;
        if (e->type == MEMTAP_EV_ALLOC) {
            r->seq++;
            rc = on_alloc(r, e->addr, e->size, e->node, e->kind, e->thread);
        } else if (e->type == MEMTAP_EV_FREE) {
            r->seq++;
            on_free(r, e->addr);
            rc = 0;
        } else if (e->type == MEMTAP_EV_MUNMAP) {
            r->seq++;
            rc = on_munmap(r, e->addr, e->size);
        } else {
            rc = apply(r, &b->others[e->addr]);
        }
        if (rc < 0 || (timeline_due(r) && memtap_timeline_step(r) < 0))
            return -1;
    }
    return 0;
}

void memtap_replay_finish(memtap_replay_t *r) {
    r->leaked_bytes = r->live_bytes;
    r->leaked_blocks = r->live_blocks;
    /* an image without MAIN_DONE holds at the end what it held when its main part ended;
     * a site an image created after its MAIN_DONE held nothing then */
    r->held_bytes = r->held_blocks = 0;
    for (size_t i = 1; i < r->sites.n; i++) {
        memtap_site_t *s = &r->sites.v[i];
        if (!s->held_set) {
            int done = s->image < r->images.n && r->images.v[s->image].main_done;
            s->held_bytes = done ? 0 : s->live_bytes;
            s->held_blocks = done ? 0 : s->live_blocks;
        }
        r->held_bytes += s->held_bytes;
        r->held_blocks += s->held_blocks;
    }
    for (size_t i = 0; i <= r->live.mask; i++) {
        const memtap_block_t *b = &r->live.slots[i];
        if (b->used) {
            r->kinds[b->kind].leaked_blocks++;
            r->kinds[b->kind].leaked_bytes += b->size;
        }
    }
    for (size_t i = 0; i < r->regions.n; i++) {
        r->kinds[MEMTAP_KIND_MMAP].leaked_blocks++;
        r->kinds[MEMTAP_KIND_MMAP].leaked_bytes += r->regions.v[i].len;
    }
}
