/* The flamegraph's model, shared by the HTML page and the exports: allocation sites with
 * their figures in each view, their stacks as the text reports show them (symbolized,
 * inlined frames, Python frames merged in place of the interpreter loop) turned into a
 * tree of distinct frames, and the small sites merged into one "[other]" site per thread.
 * Also the commands' shared options and loading. Not for use inside malloc. */
#ifndef MEMTAP_READER_FLAME_H
#define MEMTAP_READER_FLAME_H

#include <stddef.h>
#include <stdint.h>

#include "common/vec.h"
#include "memtap/hashtab.h"
#include "replay/replay.h"
#include "replay/timeline.h"
#include "symbolize/symbolize.h"

/* Frame kinds (the page's frames.kind). */
enum { MEMTAP_FK_NATIVE, MEMTAP_FK_PYTHON, MEMTAP_FK_INTERPRETER, MEMTAP_FK_OTHER };

/* The views: which figure of a site gives a frame's width. */
/* Each view's largest stacks kept whatever --min-percent says: 1,000 (tests change it). */
extern size_t memtap_flame_keep_top;

typedef enum {
    MEMTAP_VIEW_PEAK,      /* bytes live at the heap's peak */
    MEMTAP_VIEW_LEAKED,    /* bytes live at the end */
    MEMTAP_VIEW_TOTAL,     /* bytes allocated */
    MEMTAP_VIEW_COUNT,     /* allocation calls */
    MEMTAP_VIEW_TEMPORARY, /* temporary allocations (freed before any other allocation) */
    MEMTAP_VIEW_COUNT_OF_VIEWS
} memtap_view_t;

/* An allocation site (one stack on one thread) and its figures. */
typedef struct {
    uint32_t node;   /* the replay's node (input), the flame's node (in memtap_flame_t) */
    uint32_t thread; /* index into the replay's threads, or MEMTAP_NO_THREAD */
    uint32_t kinds;  /* bit k: allocator kind k allocated here */
    uint64_t peak_bytes, peak_blocks, leaked_bytes, leaked_blocks;
    uint64_t total_bytes, allocations, temporary, temporary_bytes;
} memtap_fsite_t;

/* A distinct frame: a function at a line (strings owned by the model; file and module may
 * be NULL; module is the file name of the ELF module, without its directory). */
typedef struct {
    const char *name, *file, *module;
    uint32_t line;
    uint8_t kind;
} memtap_fframe_t;

typedef struct {
    uint32_t a, b, c, d, id; /* a key of up to four numbers; id 0: empty slot */
} memtap_fkey_t;
typedef MEMTAP_HASHTAB(memtap_fkey_t) memtap_fkeys_t;

typedef struct {
    char *str;
    uint32_t id;
} memtap_fstr_t;
typedef MEMTAP_HASHTAB(memtap_fstr_t) memtap_fstrs_t;

typedef struct {
    MEMTAP_VEC(memtap_fframe_t) frames;
    MEMTAP_VEC(int32_t) parent; /* the tree's nodes: parent[0] = frame[0] = -1 (the root); */
    MEMTAP_VEC(int32_t) frame;  /* parents come before their children */
    MEMTAP_VEC(memtap_fsite_t) sites;
    uint32_t *site_of; /* input site i -> its site in sites (merged ones share one) */
    double min_percent; /* as built: sites under it in every view were merged into [other] */
    size_t merged;      /* input sites merged into [other] sites */
    /* building */
    MEMTAP_VEC(char *) strings; /* [0] unused: string id 0 is NULL */
    memtap_fstrs_t string_ids;
    memtap_fkeys_t frame_ids, node_ids, site_ids;
} memtap_flame_t;

/* The view's name, as the page's views are named: "peak", "leaked", "total", "count",
 * "temporary". */
const char *memtap_view_name(memtap_view_t v);

/* The figure of view v of site s. */
uint64_t memtap_fsite_value(const memtap_fsite_t *s, memtap_view_t v);

/* Builds f from the sites in[0..n): their stacks from sym (python_only as the reports'
 * --python-only: native frames dropped from stacks with Python frames), sites whose stacks
 * read the same on one thread summed into one, and those under min_percent percent of
 * every view's total summed into one [other] site per thread (none when min_percent <= 0).
 * Returns 0, or -1 when out of memory (free f then too). */
int memtap_flame_build(memtap_flame_t *f, memtap_symbolizer_t *sym, const memtap_replay_t *r,
                       const memtap_fsite_t *in, size_t n, int python_only, double min_percent);
void memtap_flame_free(memtap_flame_t *f);

/* The sites of a replay for the flamegraph: those of its timeline, one per thread site
 * (tsite i is in[i - 1]), when it has one (finished), else one per replay site (thread
 * unknown; temporary_bytes 0). *n gets their number. NULL when out of memory. */
memtap_fsite_t *memtap_flame_sites(const memtap_replay_t *r, size_t *n);

/* The timeline's entries for the flame's sites: in[0..n) (by moment, as the timeline
 * keeps them) mapped through f->site_of (thread site i is input site i - 1), figures of
 * sites merged into one summed, into out (room for n), ordered by site, then moment.
 * Returns how many were written, or (size_t)-1 when out of memory. */
size_t memtap_flame_temporal(const memtap_flame_t *f, const memtap_tl_entry_t *in, size_t n,
                             size_t ntsites, memtap_tl_entry_t *out);

#endif
