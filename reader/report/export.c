/* memtap export: the flamegraph of one view for other tools: Brendan Gregg's folded stacks
 * (flamegraph.pl, inferno, speedscope), speedscope's own file format, or the aggregated
 * tree as JSON. Threads are summed; the frames are the page's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "html/json_write.h"
#include "report/flame_cmd.h"
#include "report/report.h"

#ifndef MEMTAP_VERSION
#define MEMTAP_VERSION "dev"
#endif

static const char usage[] =
    "usage: memtap export [--format folded|speedscope|json] [-o FILE] [--force]\n"
    "                     [--peak|--leaks|--total|--count|--temporary] [--python-only]\n"
    "                     [--min-percent P] [--pid PID] FILE\n"
    "\n"
    "The flamegraph of one view for other tools, on stdout (or in FILE):\n"
    "  folded       one line per stack, 'root;...;leaf weight' (flamegraph.pl, inferno,\n"
    "               speedscope read it)\n"
    "  speedscope   speedscope's file format (https://www.speedscope.app)\n"
    "  json         the call tree with each frame's figure, its own and its callees'\n"
    "Weights: bytes live at the peak (--peak, default), leaked (--leaks), allocated in all\n"
    "(--total); allocation calls (--count); temporary allocations (--temporary).\n"
    "\n"
    "  --python-only    Python frames only; stacks that differ only in native frames merge\n"
    "  --min-percent P  stacks under P% of every view are merged into one [other] stack\n"
    "                   (default 0.1; 0: none)\n"
    "  --pid PID        the process PID of the capture\n"
    "  -f, --force      replace FILE if it exists\n"
    "  -h, --help       this text\n";

/* A frame's label, as the page shows it: a Python frame with its file's name and line. */
static void label(const memtap_fframe_t *fr, char *buf, size_t cap) {
    const char *file = fr->file ? strrchr(fr->file, '/') : NULL;
    file = file ? file + 1 : fr->file;
    if (fr->kind == MEMTAP_FK_PYTHON && fr->line > 0)
        snprintf(buf, cap, "%s (%s:%u)", fr->name, file ? file : "?", fr->line);
    else
        snprintf(buf, cap, "%s", fr->name);
}

/* Each node's own figure in the view (threads summed) and with its callees'. */
static void node_values(const memtap_flame_t *f, memtap_view_t v, uint64_t *self,
                        uint64_t *total) {
    memset(self, 0, f->parent.n * sizeof *self);
    for (size_t i = 0; i < f->sites.n; i++)
        self[f->sites.v[i].node] += memtap_fsite_value(&f->sites.v[i], v);
    memcpy(total, self, f->parent.n * sizeof *total);
    for (size_t n = f->parent.n; n-- > 1;) /* parents come before their children */
        total[f->parent.v[n]] += total[n];
}

typedef struct {
    char *stack; /* labels from the root down, ';' between */
    uint64_t weight;
} folded_t;

static int by_stack(const void *a, const void *b) {
    return strcmp(((const folded_t *)a)->stack, ((const folded_t *)b)->stack);
}

/* The folded stack of node: labels from the root down ("a;b;c"), malloc'd; NULL when out
 * of memory. */
static char *folded_stack(const memtap_flame_t *f, size_t node) {
    char lab[4096];
    size_t len = 0, cap = 256;
    char *buf = malloc(cap);
    for (int32_t at = (int32_t)node; buf && at > 0; at = f->parent.v[at]) { /* leaf first */
        label(&f->frames.v[f->frame.v[at]], lab, sizeof lab);
        for (char *c = lab; *c; c++) /* the format's separators cannot be in a name */
            *c = *c == ';' ? ':' : (*c == '\n' || *c == '\r') ? ' ' : *c;
        size_t l = strlen(lab), sep = len ? 1 : 0;
        while (buf && len + l + sep + 1 > cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b)
                free(buf);
            buf = b;
        }
        if (!buf)
            break;
        memmove(buf + l + sep, buf, len); /* prepend: the root comes first */
        memcpy(buf, lab, l);
        if (sep)
            buf[l] = ';';
        len += l + sep;
        buf[len] = '\0';
    }
    return buf;
}

/* Folded stacks: a line per node with a figure of its own; stacks that read the same (two
 * lines of one native function) summed into one line; lines sorted. */
static int write_folded(FILE *out, const memtap_flame_t *f, const uint64_t *self) {
    folded_t *lines = malloc((f->parent.n ? f->parent.n : 1) * sizeof *lines);
    size_t n = 0;
    int rc = lines ? 0 : -1;
    for (size_t node = 1; node < f->parent.n && rc == 0; node++) {
        if (!self[node])
            continue;
        lines[n].weight = self[node];
        if (!(lines[n++].stack = folded_stack(f, node))) {
            n--;
            rc = -1;
        }
    }
    if (rc == 0)
        qsort(lines, n, sizeof *lines, by_stack);
    for (size_t i = 0; i < n && rc == 0; i++) { /* equal stacks are neighbours now */
        uint64_t sum = lines[i].weight;
        while (i + 1 < n && !strcmp(lines[i + 1].stack, lines[i].stack))
            sum += lines[++i].weight;
        if (fprintf(out, "%s %llu\n", lines[i].stack, (unsigned long long)sum) < 0)
            rc = -1;
    }
    for (size_t i = 0; i < n; i++)
        free(lines[i].stack);
    free(lines);
    return rc;
}

/* Speedscope's file: one sampled profile, a sample per node with a figure of its own (its
 * frames from the root down), weighed by that figure. */
static int write_speedscope(FILE *out, const memtap_flame_t *f, const memtap_replay_t *r,
                            const memtap_flame_opts_t *o, const uint64_t *self,
                            const uint64_t *total) {
    static memtap_jw_t w;
    char lab[4096];
    memtap_jw_init(&w, out, 0);
    const memtap_image_t *last = r->images.n ? &r->images.v[r->images.n - 1] : NULL;
    memtap_jw_put(&w, "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\","
                      "\"exporter\":\"memtap " MEMTAP_VERSION "\",\"name\":");
    snprintf(lab, sizeof lab, "memtap: %s (%s)", last ? last->cmdline : o->path,
             memtap_view_name(o->view));
    memtap_jw_str(&w, lab);
    memtap_jw_put(&w, ",\"activeProfileIndex\":0,\"shared\":{\"frames\":[");
    for (size_t i = 0; i < f->frames.n; i++) {
        const memtap_fframe_t *fr = &f->frames.v[i];
        label(fr, lab, sizeof lab);
        memtap_jw_put(&w, i ? ",{\"name\":" : "{\"name\":");
        memtap_jw_str(&w, lab);
        if (fr->file) {
            memtap_jw_put(&w, ",\"file\":");
            memtap_jw_str(&w, fr->file);
        }
        if (fr->line) {
            memtap_jw_put(&w, ",\"line\":");
            memtap_jw_u64(&w, fr->line);
        }
        memtap_jw_raw(&w, "}", 1);
    }
    int bytes = o->view <= MEMTAP_VIEW_TOTAL;
    memtap_jw_put(&w, "]},\"profiles\":[{\"type\":\"sampled\",\"name\":");
    memtap_jw_str(&w, memtap_view_name(o->view));
    memtap_jw_put(&w, bytes ? ",\"unit\":\"bytes\"" : ",\"unit\":\"none\"");
    memtap_jw_put(&w, ",\"startValue\":0,\"endValue\":");
    memtap_jw_u64(&w, total[0]);
    memtap_jw_put(&w, ",\"samples\":[");
    int32_t chain[4096];
    int first = 1;
    for (size_t node = 1; node < f->parent.n; node++) {
        if (!self[node])
            continue;
        size_t depth = 0;
        for (int32_t at = (int32_t)node; at > 0 && depth < 4096; at = f->parent.v[at])
            chain[depth++] = f->frame.v[at];
        memtap_jw_put(&w, first ? "[" : ",[");
        first = 0;
        while (depth-- > 0) { /* the root first */
            memtap_jw_i64(&w, chain[depth]);
            if (depth)
                memtap_jw_raw(&w, ",", 1);
        }
        memtap_jw_raw(&w, "]", 1);
    }
    memtap_jw_put(&w, "],\"weights\":[");
    first = 1;
    for (size_t node = 1; node < f->parent.n; node++) {
        if (!self[node])
            continue;
        if (!first)
            memtap_jw_raw(&w, ",", 1);
        first = 0;
        memtap_jw_u64(&w, self[node]);
    }
    memtap_jw_put(&w, "]}]}\n");
    return memtap_jw_flush(&w);
}

/* The tree as JSON: children ordered widest first (then by name), nodes without a figure
 * left out. */
typedef struct {
    const memtap_flame_t *f;
    const uint64_t *self, *total;
    uint32_t *first, *next; /* each node's children, in order */
    memtap_jw_t *w;
} tree_t;

static int by_width(const void *a, const void *b, void *ctx) {
    const tree_t *t = ctx;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (t->total[x] != t->total[y])
        return t->total[x] > t->total[y] ? -1 : 1;
    return strcmp(t->f->frames.v[t->f->frame.v[x]].name, t->f->frames.v[t->f->frame.v[y]].name);
}

static void tree_node(const tree_t *t, uint32_t n) {
    static const char *kinds[] = {"native", "python", "interpreter", "other"};
    memtap_jw_t *w = t->w;
    if (n == 0) {
        memtap_jw_put(w, "{\"name\":\"all\"");
    } else {
        const memtap_fframe_t *fr = &t->f->frames.v[t->f->frame.v[n]];
        memtap_jw_put(w, "{\"name\":");
        memtap_jw_str(w, fr->name);
        memtap_jw_put(w, ",\"file\":");
        memtap_jw_str(w, fr->file);
        memtap_jw_put(w, ",\"line\":");
        memtap_jw_u64(w, fr->line);
        memtap_jw_put(w, ",\"module\":");
        memtap_jw_str(w, fr->module);
        memtap_jw_put(w, ",\"kind\":\"");
        memtap_jw_put(w, kinds[fr->kind & 3]);
        memtap_jw_raw(w, "\"", 1);
    }
    memtap_jw_put(w, ",\"value\":");
    memtap_jw_u64(w, t->total[n]);
    memtap_jw_put(w, ",\"self\":");
    memtap_jw_u64(w, t->self[n]);
    memtap_jw_put(w, ",\"children\":[");
    for (uint32_t c = t->first[n], k = 0; c; c = t->next[c], k++) {
        if (k)
            memtap_jw_raw(w, ",", 1);
        tree_node(t, c);
    }
    memtap_jw_put(w, "]}");
}

static int write_tree_json(FILE *out, const memtap_flame_t *f, const memtap_replay_t *r,
                           const memtap_flame_opts_t *o, const uint64_t *self,
                           const uint64_t *total) {
    static memtap_jw_t w;
    size_t n = f->parent.n;
    tree_t t = {f, self, total, calloc(n, sizeof *t.first), calloc(n, sizeof *t.next), &w};
    uint32_t *kids = malloc(n * sizeof *kids);
    if (!t.first || !t.next || !kids) {
        free(t.first), free(t.next), free(kids);
        return -1;
    }
    for (size_t i = n; i-- > 1;) /* each node's children, linked */
        if (total[i]) {
            t.next[i] = t.first[f->parent.v[i]];
            t.first[f->parent.v[i]] = (uint32_t)i;
        }
    for (size_t p = 0; p < n; p++) { /* and ordered */
        size_t k = 0;
        for (uint32_t c = t.first[p]; c; c = t.next[c])
            kids[k++] = c;
        if (k < 2)
            continue;
        qsort_r(kids, k, sizeof *kids, by_width, &t);
        t.first[p] = kids[0];
        for (size_t i = 0; i < k; i++)
            t.next[kids[i]] = i + 1 < k ? kids[i + 1] : 0;
    }
    free(kids);
    const memtap_image_t *last = r->images.n ? &r->images.v[r->images.n - 1] : NULL;
    memtap_jw_init(&w, out, 0);
    memtap_jw_put(&w, "{\"capture\":");
    memtap_jw_str(&w, o->path);
    memtap_jw_put(&w, ",\"command\":");
    memtap_jw_str(&w, last ? last->cmdline : NULL);
    memtap_jw_put(&w, ",\"view\":\"");
    memtap_jw_put(&w, memtap_view_name(o->view));
    memtap_jw_put(&w, o->view <= MEMTAP_VIEW_TOTAL ? "\",\"unit\":\"bytes\"" : "\",\"unit\":\"count\"");
    memtap_jw_put(&w, o->python_only ? ",\"python_only\":true" : ",\"python_only\":false");
    memtap_jw_put(&w, ",\"min_percent\":");
    memtap_jw_ms(&w, f->min_percent);
    memtap_jw_put(&w, ",\"total\":");
    memtap_jw_u64(&w, total[0]);
    memtap_jw_put(&w, ",\"tree\":");
    tree_node(&t, 0);
    memtap_jw_put(&w, "}\n");
    free(t.first), free(t.next);
    return memtap_jw_flush(&w);
}

int memtap_cmd_export(int argc, char **argv) {
    memtap_flame_opts_t o;
    int rc = memtap_flame_parse(argc, argv, "export", usage, &o);
    if (rc >= 0)
        return rc;
    if (o.out && (rc = memtap_flame_check_output("export", o.out, o.force)) >= 0)
        return rc;
    memtap_replay_t r;
    memtap_symbolizer_t *sym;
    memtap_flame_t f;
    if ((rc = memtap_flame_load(&o, 0, &r, &sym, &f)) != MEMTAP_EXIT_OK)
        return rc;
    uint64_t *self = malloc(f.parent.n * sizeof *self), *total = malloc(f.parent.n * sizeof *total);
    FILE *out = !self || !total ? NULL : o.out ? memtap_flame_open_output("export", o.out, o.force)
                                              : stdout;
    rc = out ? MEMTAP_EXIT_OK : self && total ? MEMTAP_EXIT_USAGE : MEMTAP_EXIT_BAD_INPUT;
    if (out) {
        node_values(&f, o.view, self, total);
        int bad = !strcmp(o.format, "folded")       ? write_folded(out, &f, self)
                  : !strcmp(o.format, "speedscope") ? write_speedscope(out, &f, &r, &o, self, total)
                                                    : write_tree_json(out, &f, &r, &o, self, total);
        bad |= out == stdout ? fflush(out) != 0 : fclose(out) != 0;
        if (bad) {
            perror(o.out ? o.out : "memtap export: stdout");
            if (o.out)
                unlink(o.out);
            rc = MEMTAP_EXIT_BAD_INPUT;
        }
    } else if (!self || !total) {
        fprintf(stderr, "memtap: out of memory\n");
    }
    free(self);
    free(total);
    memtap_flame_free(&f);
    memtap_symbolizer_free(sym);
    memtap_replay_free(&r);
    return rc;
}
