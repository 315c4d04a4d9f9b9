/* Shared parts of the report commands: options, and the sites they rank. */
#include "report/report.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtap/hashtab.h"
#include "memtap/varint.h"
#include "common/errors.h"
#include "report/output.h"
#include "check/classes.h"
#include "symbolize/stack_view.h"

int memtap_report_parse(int argc, char **argv, const char *cmd, const char *usage, int allow_by,
                        memtap_report_opts_t *o) {
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},         {"limit", required_argument, NULL, 'n'},
        {"by", required_argument, NULL, 'b'},     {"help", no_argument, NULL, 'h'},
        {"python-only", no_argument, NULL, 'p'},  {"before-teardown", no_argument, NULL, 't'},
        {"pid", required_argument, NULL, 'P'},    {"class", required_argument, NULL, 'C'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->limit = -1; /* not given: the command picks its default */
    o->pid = -1;   /* not given: the root process */
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":n:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            o->json = 1;
            break;
        case 'n': {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || *end || v < 0) {
                fprintf(stderr, "memtap %s: --limit takes a whole number >= 0, not '%s'\n", cmd, optarg);
                return MEMTAP_EXIT_USAGE;
            }
            o->limit = v;
            break;
        }
        case 'b':
            if (!allow_by)
                goto unknown;
            if (!strcmp(optarg, "peak"))
                o->by = MEMTAP_BY_PEAK;
            else if (!strcmp(optarg, "total"))
                o->by = MEMTAP_BY_TOTAL;
            else if (!strcmp(optarg, "count"))
                o->by = MEMTAP_BY_COUNT;
            else if (!strcmp(optarg, "leaked"))
                o->by = MEMTAP_BY_LEAKED;
            else if (!strcmp(optarg, "temporary"))
                o->by = MEMTAP_BY_TEMPORARY;
            else {
                fprintf(stderr,
                        "memtap %s: --by takes peak, total, count, leaked or temporary, not '%s'\n",
                        cmd, optarg);
                return MEMTAP_EXIT_USAGE;
            }
            break;
        case 'p':
            o->python_only = 1;
            break;
        case 'P': {
            char *end;
            errno = 0;
            long long v = strtoll(optarg, &end, 10);
            if (errno || *end || end == optarg || v <= 0) {
                fprintf(stderr, "memtap %s: --pid takes a process id (a whole number > 0), not "
                                "'%s'\n", cmd, optarg);
                return MEMTAP_EXIT_USAGE;
            }
            o->pid = v;
            break;
        }
        case 'C':
            if (strcmp(cmd, "leaks") != 0)
                goto unknown;
            if (!(o->classes = memtap_class_mask(optarg)) || o->classes & 1) {
                fprintf(stderr, "memtap %s: --class takes a comma-separated list of definite, "
                                "indirect, possible, reachable, not '%s'\n", cmd, optarg);
                return MEMTAP_EXIT_USAGE;
            }
            break;
        case 't':
            if (allow_by)
                goto unknown;
            o->before_teardown = 1;
            break;
        case 'h':
            fputs(usage, stdout);
            return MEMTAP_EXIT_OK;
        case ':':
            fprintf(stderr, "memtap %s: option '%s' needs a value (see memtap %s --help)\n", cmd,
                    argv[optind - 1], cmd);
            return MEMTAP_EXIT_USAGE;
        default:
        unknown:
            fprintf(stderr, "memtap %s: unknown option '%s' (see memtap %s --help)\n", cmd,
                    argv[optind - 1], cmd);
            return MEMTAP_EXIT_USAGE;
        }
    }
    int rc = memtap_one_capture_arg(cmd, argc, optind);
    if (rc >= 0)
        return rc;
    o->path = argv[optind];
    return -1;
}

typedef struct {
    uint64_t key, blocks;
    uint32_t site;
} ranked_t;

static int by_rank(const void *a, const void *b) {
    const ranked_t *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? 1 : -1;
    if (x->blocks != y->blocks)
        return x->blocks < y->blocks ? 1 : -1;
    return x->site < y->site ? -1 : x->site > y->site;
}

/* Python-only stacks, hash-consed: (image, parent key, frame) -> key. */
typedef struct {
    uint64_t frame;
    uint32_t image, parent, key; /* key 0: empty slot */
} py_key_t;
typedef MEMTAP_HASHTAB(py_key_t) py_keys_t;

#define PY_HASH(image, parent, frame) memtap_hash2((frame), (uint64_t)(image) << 32 | (parent))
#define MEMTAP_HT_NAME py_keys
#define MEMTAP_HT_TABLE py_keys_t
#define MEMTAP_HT_SLOT py_key_t
#define MEMTAP_HT_KEY py_key_t /* key 0 */
#define MEMTAP_HT_HASH(k) PY_HASH((k).image, (k).parent, (k).frame)
#define MEMTAP_HT_SLOT_HASH(s) PY_HASH((s)->image, (s)->parent, (s)->frame)
#define MEMTAP_HT_EMPTY(s) ((s)->key == 0)
#define MEMTAP_HT_MATCH(s, k)                                                                      \
    ((s)->frame == (k).frame && (s)->parent == (k).parent && (s)->image == (k).image)
#define MEMTAP_HT_ALLOC(bytes) calloc(1, (bytes))
#define MEMTAP_HT_FREE(p, bytes) free(p)
#include "memtap/hashtab.h"

static uint32_t py_intern(py_keys_t *t, uint32_t image, uint32_t parent, uint64_t frame) {
    int found;
    py_key_t *s = py_keys_upsert(t, (py_key_t){frame, image, parent, 0}, &found);
    if (s && !found)
        *s = (py_key_t){frame, image, parent, (uint32_t)t->count};
    return s ? s->key : 0;
}

/* The key of the Python frames of node's stack (0: none, or out of memory). */
static uint32_t python_key(const memtap_replay_t *r, py_keys_t *t, uint32_t node) {
    uint64_t frames[MEMTAP_MAX_DEPTH + 1024];
    size_t n = 0;
    uint32_t image = r->nodes.v[node].image;
    for (; node && n < sizeof frames / sizeof frames[0]; node = r->nodes.v[node].parent)
        if (memtap_is_py_frame(r->nodes.v[node].frame))
            frames[n++] = r->nodes.v[node].frame & ~MEMTAP_PY_ENTRY_BIT; /* where the loop ran it: not part of a Python-only stack */
    uint32_t key = 0;
    while (n > 0 && (key = py_intern(t, image, key, frames[--n])) != 0)
        ;
    return key;
}

memtap_site_t *memtap_view_sites(const memtap_replay_t *r, int python_only, size_t *n) {
    return memtap_view_sites_map(r, python_only, n, NULL);
}

memtap_site_t *memtap_view_sites_map(const memtap_replay_t *r, int python_only, size_t *n,
                                     uint32_t *map) {
    memtap_site_t *out = malloc(r->sites.n * sizeof *out);
    if (!out)
        return NULL;
    if (!python_only) {
        memcpy(out, r->sites.v, r->sites.n * sizeof *out);
        *n = r->sites.n;
        for (size_t i = 0; map && i < r->sites.n; i++)
            map[i] = (uint32_t)i;
        return out;
    }
    if (map)
        map[0] = 0;
    py_keys_t keys;
    int no_keys = py_keys_init(&keys, 1024);
    uint32_t *merged = calloc(r->nodes.n + 1, sizeof *merged); /* key -> index in out */
    if (!merged || no_keys) {
        free(merged);
        py_keys_destroy(&keys);
        free(out);
        return NULL;
    }
    size_t k = 1;
    memset(&out[0], 0, sizeof out[0]);
    for (size_t i = 1; i < r->sites.n; i++) {
        const memtap_site_t *s = &r->sites.v[i];
        uint32_t key = python_key(r, &keys, s->node);
        if (map)
            map[i] = key && merged[key] ? merged[key] : (uint32_t)k;
        if (!key || !merged[key]) {
            out[k] = *s;
            out[k].peak_snap = memtap_site_peak_bytes(r, s);
            out[k].last_change = UINT64_MAX; /* the peak figure is peak_snap from now on */
            if (key)
                merged[key] = (uint32_t)k;
            k++;
            continue;
        }
        memtap_site_t *m = &out[merged[key]];
        m->total_bytes += s->total_bytes;
        m->count += s->count;
        m->live_bytes += s->live_bytes;
        m->live_blocks += s->live_blocks;
        m->held_bytes += s->held_bytes;
        m->held_blocks += s->held_blocks;
        m->peak_snap += memtap_site_peak_bytes(r, s);
        m->kinds |= s->kinds;
        m->temporary += s->temporary;
    }
    free(merged);
    py_keys_destroy(&keys);
    *n = k;
    return out;
}

uint32_t *memtap_sites_sorted(const memtap_replay_t *r, const memtap_site_t *sites,
                              size_t nsites, memtap_order_t by, size_t *n) {
    *n = 0;
    ranked_t *rank = malloc(nsites * sizeof *rank);
    if (!rank)
        return NULL;
    size_t k = 0;
    for (size_t i = 1; i < nsites; i++) {
        const memtap_site_t *s = &sites[i];
        uint64_t key = by == MEMTAP_BY_PEAK    ? memtap_site_peak_bytes(r, s)
                       : by == MEMTAP_BY_TOTAL ? s->total_bytes
                       : by == MEMTAP_BY_COUNT ? s->count
                       : by == MEMTAP_BY_TEMPORARY ? s->temporary
                       : by == MEMTAP_BY_HELD      ? s->held_bytes
                                                   : s->live_bytes;
        uint64_t blocks = by == MEMTAP_BY_LEAKED ? s->live_blocks
                          : by == MEMTAP_BY_HELD ? s->held_blocks
                                                 : s->count;
        if (key || ((by == MEMTAP_BY_LEAKED || by == MEMTAP_BY_HELD) && blocks))
            rank[k++] = (ranked_t){key, blocks, (uint32_t)i};
    }
    qsort(rank, k, sizeof *rank, by_rank);
    uint32_t *out = malloc((k ? k : 1) * sizeof *out);
    if (out)
        for (size_t i = 0; i < k; i++)
            out[i] = rank[i].site;
    free(rank);
    *n = out ? k : 0;
    return out;
}

int memtap_one_capture_arg(const char *cmd, int argc, int optind_now) {
    if (optind_now + 1 == argc)
        return -1;
    fprintf(stderr, "memtap %s: %s (see memtap %s --help)\n", cmd,
            optind_now == argc ? "which capture? give one FILE" : "give exactly one FILE", cmd);
    return MEMTAP_EXIT_USAGE;
}
