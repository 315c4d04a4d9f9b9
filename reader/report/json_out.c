/* jansson-based JSON writer for summary, leaks and top. */
#include "report/json_out.h"

#include <inttypes.h>
#include <jansson.h>

#include "report/output.h"
#include "symbolize/stack_view.h"

static json_t *u64(uint64_t v) {
    return json_integer((json_int_t)v);
}

/* Named whole numbers, set on an object in the order given. */
typedef struct {
    const char *key;
    uint64_t value;
} field_t;
#define FIELDS(...)                                                                                \
    (const field_t[]){__VA_ARGS__}, sizeof((const field_t[]){__VA_ARGS__}) / sizeof(field_t)

static void set_u64s(json_t *o, const field_t *f, size_t n) {
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, f[i].key, u64(f[i].value));
}

static int dump(FILE *out, json_t *root) {
    if (!root)
        return -1;
    int rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(root);
    return rc;
}

static json_t *common(const char *path, const memtap_replay_t *r) {
    json_t *o = json_object();
    json_object_set_new(o, "capture", json_string(path));
    json_object_set_new(o, "complete", json_boolean(r->complete));
    if (r->images.n) /* the process reported (memtap ... --pid) */
        json_object_set_new(o, "pid", u64(r->images.v[0].pid));
    return o;
}

/* The processes of the capture, a flat list in tree order. */
static json_t *processes_json(const memtap_container_t *c, const memtap_proc_row_t *rows,
                              size_t n) {
    json_t *a = json_array();
    for (size_t k = 0; k < n; k++) {
        const memtap_proc_row_t *row = &rows[k];
        const memtap_process_t *p = &c->processes.v[row->process];
        json_t *e = json_object();
        set_u64s(e, FIELDS({"pid", p->pid}, {"ppid", p->ppid}));
        json_object_set_new(e, "command", json_string(p->command));
        set_u64s(e, FIELDS({"images", p->images}, {"depth", p->depth}));
        if (row->read)
            set_u64s(e, FIELDS({"duration_ms", row->duration_ms}, {"allocations", row->allocations},
                               {"frees", row->frees}, {"bytes_allocated", row->bytes_allocated},
                               {"peak_bytes", row->peak_bytes}, {"leaked_bytes", row->leaked_bytes},
                               {"leaked_blocks", row->leaked_blocks}));
        json_object_set_new(e, "complete", json_boolean(row->read ? row->complete : p->complete));
        if (p->killed)
            json_object_set_new(e, "killed_by", p->signal ? u64(p->signal) : json_null());
        if (row->process == c->root)
            json_object_set_new(e, "root", json_true());
        if (!row->read)
            json_object_set_new(e, "error", json_string(row->error ? row->error : ""));
        json_array_append_new(a, e);
    }
    return a;
}

/* {"definitely_lost": {"bytes", "blocks"}, ...} of the classes with blocks (all when all). */
static json_t *classes_json(const memtap_amount_t cls[MEMTAP_LC_COUNT], int all) {
    json_t *o = json_object();
    for (unsigned c = MEMTAP_LC_COUNT; c-- > 0;) {
        if (!cls[c].blocks && (!all || c == MEMTAP_LC_UNKNOWN))
            continue;
        json_t *a = json_object();
        set_u64s(a, FIELDS({"bytes", cls[c].bytes}, {"blocks", cls[c].blocks}));
        json_object_set_new(o, memtap_class_key(c), a);
    }
    return o;
}

/* "leak_scan", "leak_scan_ms" (the scan's wall time) and "leak_classes" (every class, "unknown" when some blocks have none). */
static void leak_totals(json_t *o, const memtap_replay_t *r) {
    memtap_amount_t cls[MEMTAP_LC_COUNT];
    memtap_class_totals(r, cls);
    json_object_set_new(o, "leak_scan", json_string(memtap_leak_scan_word(r)));
    json_object_set_new(o, "leak_scan_ms", r->leak_scan == MEMTAP_LEAK_SCAN_NONE
                                               ? json_null() : u64(r->leak_scan_ms));
    json_object_set_new(o, "leak_classes", classes_json(cls, 1));
}

int memtap_json_summary(FILE *out, const char *path, const memtap_replay_t *r,
                        const memtap_container_t *c, uint32_t process,
                        const memtap_proc_row_t *rows, size_t n) {
    json_t *o = common(path, r);
    const memtap_process_t *proc = &c->processes.v[process];
    const memtap_image_t *first = r->images.n ? &r->images.v[0] : NULL;
    const memtap_image_t *last = r->images.n ? &r->images.v[r->images.n - 1] : NULL;
    if (proc->killed)
        json_object_set_new(o, "killed_by", proc->signal ? u64(proc->signal) : json_null());
    json_object_set_new(o, "command", json_string(last ? last->cmdline : proc->command));
    json_object_set_new(o, "executable", json_string(last ? last->exe : ""));
    json_object_set_new(o, "pid", u64(first ? first->pid : proc->pid));
    json_object_set_new(o, "ppid", u64(first ? first->ppid : proc->ppid));
    json_object_set_new(o, "images", u64(r->images.n));
    json_object_set_new(o, "frames", u64(r->headers)); /* (key kept: read by scripts) */
    json_object_set_new(o, "threads", u64(r->threads.n));
    json_t *names = json_array();
    for (size_t i = 0; i < r->threads.n; i++)
        json_array_append_new(names, json_string(r->threads.v[i].name));
    json_object_set_new(o, "thread_names", names);
    set_u64s(o, FIELDS({"duration_ms", r->now_ms}, {"allocations", r->allocations},
                       {"frees", r->frees}, {"bytes_allocated", r->bytes_allocated},
                       {"peak_bytes", r->peak_bytes}, {"peak_blocks", r->peak_blocks},
                       {"peak_time_ms", r->peak_ms}, {"leaked_bytes", r->leaked_bytes},
                       {"leaked_blocks", r->leaked_blocks}, {"unmatched_frees", r->unknown_frees}));
    leak_totals(o, r);
    json_object_set_new(o, "main_done", json_boolean(r->main_done));
    if (r->main_done) {
        set_u64s(o, FIELDS({"held_at_main_end_bytes", r->held_bytes},
                           {"held_at_main_end_blocks", r->held_blocks}));
    }
    set_u64s(o, FIELDS({"python_functions", r->py_codes.n}, {"temporary_allocations", r->temporary},
                       {"max_rss_bytes", r->max_rss}, {"stacks", r->sites.n - 1}));
    json_t *kinds = json_object();
    for (unsigned k = 0; k < MEMTAP_KIND_COUNT; k++) {
        const memtap_kind_stats_t *s = &r->kinds[k];
        if (!s->count && !s->frees)
            continue;
        json_t *ko = json_object();
        set_u64s(ko, FIELDS({"allocations", s->count}, {"bytes_allocated", s->bytes},
                            {"frees", s->frees}, {"leaked_blocks", s->leaked_blocks},
                            {"leaked_bytes", s->leaked_bytes}));
        json_object_set_new(kinds, memtap_kind_name(k), ko);
    }
    json_object_set_new(o, "by_allocator", kinds);
    json_object_set_new(o, "processes", processes_json(c, rows, n));
    return dump(out, o);
}

static json_t *stack_json(memtap_symbolizer_t *sym, const memtap_replay_t *r, uint32_t node,
                          int python_only) {
    static memtap_stack_view_t view;
    json_t *a = json_array();
    if (!node || memtap_stack_view(sym, r, node, python_only, &view) < 0)
        return a;
    for (size_t i = 0; i < view.n; i++) {
        const memtap_frame_t *f = &view.v[i];
        char addr[32];
        json_t *fo = json_object();
        json_object_set_new(fo, "function", json_string(f->function));
        json_object_set_new(fo, "file", f->file ? json_string(f->file) : json_null());
        json_object_set_new(fo, "line", f->line ? json_integer(f->line) : json_null());
        if (f->python) {
            json_object_set_new(fo, "python", json_true());
        } else {
            snprintf(addr, sizeof addr, "0x%" PRIx64, f->address);
            json_object_set_new(fo, "module", f->module ? json_string(f->module) : json_null());
            json_object_set_new(fo, "address", json_string(addr));
        }
        if (f->inlined)
            json_object_set_new(fo, "inlined", json_true());
        json_array_append_new(a, fo);
    }
    return a;
}

static json_t *kinds_json(uint32_t mask) {
    json_t *a = json_array();
    for (unsigned k = 0; k < MEMTAP_KIND_COUNT; k++)
        if (mask & (1u << k))
            json_array_append_new(a, json_string(memtap_kind_name(k)));
    return a;
}

int memtap_json_sites(FILE *out, const char *key, const char *path, const memtap_replay_t *r,
                      memtap_symbolizer_t *sym, const memtap_site_t *view, const uint32_t *sites,
                      size_t n, int python_only, const memtap_amount_t (*cls)[MEMTAP_LC_COUNT]) {
    json_t *o = common(path, r);
    int leaks = key[0] == 'l', held = key[0] == 'h';
    if (leaks)
        set_u64s(o, FIELDS({"leaked_bytes", r->leaked_bytes}, {"leaked_blocks", r->leaked_blocks}));
    if (leaks && cls)
        leak_totals(o, r);
    if (held) {
        json_object_set_new(o, "main_done", json_boolean(r->main_done));
        set_u64s(o, FIELDS({"held_bytes", r->held_bytes}, {"held_blocks", r->held_blocks}));
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const memtap_site_t *s = &view[sites[i]];
        json_t *e = json_object();
        if (leaks || held)
            set_u64s(e, FIELDS({"blocks", held ? s->held_blocks : s->live_blocks},
                               {"bytes", held ? s->held_bytes : s->live_bytes}));
        else
            set_u64s(e, FIELDS({"peak_bytes", memtap_site_peak_bytes(r, s)},
                               {"total_bytes", s->total_bytes}, {"count", s->count},
                               {"temporary", s->temporary}, {"leaked_bytes", s->live_bytes},
                               {"leaked_blocks", s->live_blocks}));
        if (leaks && cls)
            json_object_set_new(e, "classes", classes_json(cls[sites[i]], 0));
        json_object_set_new(e, "allocators", kinds_json(s->kinds));
        json_object_set_new(e, "stack", stack_json(sym, r, s->node, python_only));
        json_array_append_new(arr, e);
    }
    json_object_set_new(o, key, arr);
    return dump(out, o);
}
