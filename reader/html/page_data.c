/* Writes the flamegraph page's data (page_data.h): meta, threads, frames, the call tree,
 * sites, the timeline and the sites' live memory over time, columns as arrays. */
#include "html/page_data.h"

#include <stddef.h>
#include <string.h>

#include "html/page.h"
#include "report/output.h"

#ifndef MEMTAP_VERSION
#define MEMTAP_VERSION "dev"
#endif

static void key(memtap_jw_t *w, const char *k) {
    memtap_jw_raw(w, "\"", 1);
    memtap_jw_put(w, k); /* our own keys: nothing to escape */
    memtap_jw_raw(w, "\":", 2);
}
static void field_u64(memtap_jw_t *w, const char *k, uint64_t v) {
    key(w, k);
    memtap_jw_u64(w, v);
    memtap_jw_raw(w, ",", 1);
}
static void field_str(memtap_jw_t *w, const char *k, const char *v) {
    key(w, k);
    memtap_jw_str(w, v);
    memtap_jw_raw(w, ",", 1);
}
static void field_bool(memtap_jw_t *w, const char *k, int v) {
    key(w, k);
    memtap_jw_put(w, v ? "true," : "false,");
}

enum { U64, U32, STR };

/* "k":[...] of n values of type `type` (U64: uint64_t, U32: uint32_t, STR: const char *,
 * NULL as null) read at base + i * stride. */
static void column(memtap_jw_t *w, const char *k, const void *base, size_t stride, size_t n,
                   int type) {
    key(w, k);
    memtap_jw_raw(w, "[", 1);
    for (size_t i = 0; i < n; i++) {
        const char *at = (const char *)base + i * stride;
        if (i)
            memtap_jw_raw(w, ",", 1);
        if (type == STR) {
            const char *v;
            memcpy(&v, at, sizeof v);
            memtap_jw_str(w, v);
        } else if (type == U32) {
            uint32_t v;
            memcpy(&v, at, sizeof v);
            memtap_jw_u64(w, v);
        } else {
            uint64_t v;
            memcpy(&v, at, sizeof v);
            memtap_jw_u64(w, v);
        }
    }
    memtap_jw_raw(w, "]", 1);
}

/* Whether a site's thread is unknown: the page gets one more thread for them. */
static int has_unknown_thread(const memtap_flame_t *f, size_t nthreads) {
    for (size_t i = 0; i < f->sites.n; i++)
        if (f->sites.v[i].thread >= nthreads)
            return 1;
    return 0;
}

static void write_meta(memtap_jw_t *w, const memtap_page_input_t *in) {
    const memtap_replay_t *r = in->r;
    const memtap_timeline_t *tl = r->tl;
    const memtap_image_t *first = r->images.n ? &r->images.v[0] : NULL;
    const memtap_image_t *last = r->images.n ? &r->images.v[r->images.n - 1] : NULL;
    const memtap_moment_t *peak = &tl->moments.v[tl->peak_index];
    const memtap_moment_t *end = &tl->moments.v[tl->moments.n - 1];
    key(w, "meta");
    memtap_jw_raw(w, "{", 1);
    field_str(w, "capture", in->capture);
    field_str(w, "command", last ? (last->cmdline[0] ? last->cmdline : last->exe) : "");
    field_u64(w, "pid", first ? first->pid : 0);
    field_u64(w, "ppid", first ? first->ppid : 0);
    field_str(w, "executable", last ? last->exe : "");
    field_str(w, "memtap_version", MEMTAP_VERSION);
    key(w, "duration_ms");
    memtap_jw_ms(w, end->t_ms > (double)r->now_ms ? end->t_ms : (double)r->now_ms);
    memtap_jw_raw(w, ",", 1);
    field_bool(w, "complete", r->complete);
    field_u64(w, "allocations", r->allocations);
    field_u64(w, "frees", r->frees);
    field_u64(w, "bytes_allocated", r->bytes_allocated);
    field_u64(w, "peak_bytes", peak->heap_bytes);
    field_u64(w, "peak_blocks", peak->heap_blocks);
    key(w, "peak_time_ms");
    memtap_jw_ms(w, peak->t_ms);
    memtap_jw_raw(w, ",", 1);
    field_u64(w, "leaked_bytes", r->leaked_bytes);
    field_u64(w, "leaked_blocks", r->leaked_blocks);
    field_u64(w, "temporary_allocations", r->temporary);
    field_u64(w, "max_rss_bytes", r->max_rss);
    key(w, "min_percent");
    memtap_jw_ms(w, in->f->min_percent);
    memtap_jw_raw(w, ",", 1);
    field_bool(w, "python", r->py_codes.n > 0);
    field_str(w, "view", memtap_view_name(in->view));
    key(w, "python_only");
    memtap_jw_put(w, in->python_only && r->py_codes.n > 0 ? "true}," : "false},");
}

static void write_threads(memtap_jw_t *w, const memtap_replay_t *r, int unknown) {
    key(w, "threads");
    memtap_jw_raw(w, "[", 1);
    for (size_t i = 0; i < r->threads.n + (unknown ? 1 : 0); i++) {
        const memtap_thread_t *t = i < r->threads.n ? &r->threads.v[i] : NULL;
        memtap_jw_put(w, i ? ",{\"id\":" : "{\"id\":");
        memtap_jw_u64(w, i);
        memtap_jw_put(w, ",\"tid\":");
        memtap_jw_u64(w, t ? t->tid : 0);
        memtap_jw_put(w, ",\"name\":");
        memtap_jw_str(w, !t ? "(thread not known)" : t->name[0] ? t->name : NULL);
        memtap_jw_raw(w, "}", 1);
    }
    memtap_jw_put(w, "],");
}

static void write_tree(memtap_jw_t *w, const memtap_flame_t *f, size_t nthreads) {
    const memtap_fframe_t *fr = f->frames.v;
    size_t nf = f->frames.n, sz = sizeof *fr;
    key(w, "frames");
    memtap_jw_raw(w, "{", 1);
    column(w, "name", &fr->name, sz, nf, STR);
    memtap_jw_raw(w, ",", 1);
    column(w, "file", &fr->file, sz, nf, STR);
    memtap_jw_raw(w, ",", 1);
    column(w, "line", &fr->line, sz, nf, U32);
    memtap_jw_raw(w, ",", 1);
    column(w, "module", &fr->module, sz, nf, STR);
    memtap_jw_put(w, ",\"kind\":[");
    for (size_t i = 0; i < nf; i++) {
        char c[2] = {(char)('0' + fr[i].kind), ','};
        memtap_jw_raw(w, c, i + 1 < nf ? 2 : 1);
    }
    memtap_jw_put(w, "]},\"nodes\":{\"parent\":[");
    for (size_t i = 0; i < f->parent.n; i++) {
        if (i)
            memtap_jw_raw(w, ",", 1);
        memtap_jw_i64(w, f->parent.v[i]);
    }
    memtap_jw_put(w, "],\"frame\":[");
    for (size_t i = 0; i < f->frame.n; i++) {
        if (i)
            memtap_jw_raw(w, ",", 1);
        memtap_jw_i64(w, f->frame.v[i]);
    }
    memtap_jw_put(w, "]},\"sites\":{");
    const memtap_fsite_t *s = f->sites.v;
    size_t ns = f->sites.n, st = sizeof *s;
    column(w, "node", &s->node, st, ns, U32);
    memtap_jw_put(w, ",\"thread\":[");
    for (size_t i = 0; i < ns; i++) {
        if (i)
            memtap_jw_raw(w, ",", 1);
        memtap_jw_u64(w, s[i].thread < nthreads ? s[i].thread : nthreads);
    }
    memtap_jw_put(w, "],");
    static const struct {
        const char *name;
        size_t offset;
    } cols[] = {
        {"peak_bytes", offsetof(memtap_fsite_t, peak_bytes)},
        {"peak_blocks", offsetof(memtap_fsite_t, peak_blocks)},
        {"leaked_bytes", offsetof(memtap_fsite_t, leaked_bytes)},
        {"leaked_blocks", offsetof(memtap_fsite_t, leaked_blocks)},
        {"total_bytes", offsetof(memtap_fsite_t, total_bytes)},
        {"allocations", offsetof(memtap_fsite_t, allocations)},
        {"temporary_allocations", offsetof(memtap_fsite_t, temporary)},
        {"temporary_bytes", offsetof(memtap_fsite_t, temporary_bytes)},
    };
    column(w, "kinds", &s->kinds, st, ns, U32);
    for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
        memtap_jw_raw(w, ",", 1);
        column(w, cols[c].name, (const char *)s + cols[c].offset, st, ns, U64);
    }
    memtap_jw_put(w, "},");
}

static void write_timeline(memtap_jw_t *w, const memtap_page_input_t *in) {
    const memtap_timeline_t *tl = in->r->tl;
    const memtap_moment_t *m = tl->moments.v;
    size_t n = tl->moments.n, sz = sizeof *m;
    memtap_jw_put(w, "\"timeline\":{\"t_ms\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            memtap_jw_raw(w, ",", 1);
        memtap_jw_ms(w, m[i].t_ms);
    }
    memtap_jw_put(w, "],");
    column(w, "heap_bytes", &m->heap_bytes, sz, n, U64);
    memtap_jw_raw(w, ",", 1);
    column(w, "heap_blocks", &m->heap_blocks, sz, n, U64);
    memtap_jw_put(w, ",\"rss_bytes\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            memtap_jw_raw(w, ",", 1);
        if (m[i].rss)
            memtap_jw_u64(w, m[i].rss);
        else
            memtap_jw_raw(w, "null", 4);
    }
    memtap_jw_put(w, "],");
    key(w, "peak_index");
    memtap_jw_u64(w, tl->peak_index);
    memtap_jw_put(w, "},\"temporal\":{");
    const memtap_tl_entry_t *e = in->temporal;
    size_t ne = in->ntemporal, es = sizeof *e;
    column(w, "site", &e->tsite, es, ne, U32);
    memtap_jw_raw(w, ",", 1);
    column(w, "moment", &e->moment, es, ne, U32);
    memtap_jw_raw(w, ",", 1);
    column(w, "bytes", &e->bytes, es, ne, U64);
    memtap_jw_raw(w, ",", 1);
    column(w, "blocks", &e->blocks, es, ne, U64);
    memtap_jw_raw(w, "}", 1);
}

int memtap_page_data_json(memtap_jw_t *w, const memtap_page_input_t *in) {
    size_t nthreads = in->r->threads.n;
    memtap_jw_put(w, "{\"schema\":1,");
    write_meta(w, in);
    memtap_jw_put(w, "\"allocator_kinds\":[");
    for (unsigned k = 0; k <= MEMTAP_KIND_MAX; k++) {
        memtap_jw_str(w, memtap_kind_name(k));
        memtap_jw_put(w, k < MEMTAP_KIND_MAX ? "," : "],");
    }
    write_threads(w, in->r, has_unknown_thread(in->f, nthreads));
    write_tree(w, in->f, nthreads);
    write_timeline(w, in);
    memtap_jw_raw(w, "}", 1);
    return memtap_jw_flush(w);
}

int memtap_page_write_data(FILE *out, const memtap_page_input_t *in) {
    static memtap_jw_t w; /* 64 KiB: not on the stack */
    memtap_jw_init(&w, out, 1);
    if (memtap_page_begin(out) < 0 || memtap_page_data_json(&w, in) < 0)
        return -1;
    return memtap_page_end(out);
}
