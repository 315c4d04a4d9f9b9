/* memtap leaks and memtap top: allocation stacks ranked by a figure, each with its stack. */
#include <stdio.h>
#include <stdlib.h>

#include "check/classes.h"
#include "report/json_out.h"
#include "report/output.h"
#include "report/report.h"

static const char leaks_usage[] =
    "usage: memtap leaks [--class LIST] [--before-teardown] [--python-only] [--json]\n"
    "                    [--limit N] [--pid PID] FILE\n"
    "\n"
    "Memory never freed, grouped by identical allocation stack, largest first, each with\n"
    "its blocks, bytes, leak classes (from the scan at exit) and full stack (innermost\n"
    "frame first; Python frames marked [py]).\n"
    "\n"
    "  --class LIST       only these classes, comma-separated: definite (definitely lost:\n"
    "                     nothing points to it), indirect (reached only from lost\n"
    "                     blocks), possible (only pointers into its middle), reachable\n"
    "  --before-teardown  memory still held when the main program finished (Python: the\n"
    "                     main module and atexit handlers), before the interpreter's\n"
    "                     teardown freed much of it\n"
    "  --python-only      Python frames only; stacks that differ only in native frames\n"
    "                     are merged (stacks without Python frames stay native)\n"
    "  --limit N  show the N largest stacks (default 20 in text, all in JSON; 0: all)\n"
    "  --json     machine-readable output (exact byte counts)\n"
    MEMTAP_PID_USAGE
    "  -h, --help this text\n"
    "\n"
    "Without --pid, the other processes of the capture that leaked most are named on\n"
    "stderr, one line each with the command that shows it (memtap summary lists all).\n";

static const char top_usage[] =
    "usage: memtap top [--by peak|total|count|leaked|temporary] [--python-only] [--limit N]\n"
    "                  [--json] [--pid PID] FILE\n"
    "\n"
    "Allocation stacks ranked by bytes live at the heap peak (default), by total bytes\n"
    "allocated, by number of allocations, by bytes leaked, or by temporary allocations\n"
    "(freed before any other allocation happened: candidates for the stack or reuse).\n"
    "\n"
    "  --by KEY   peak, total, count, leaked or temporary\n"
    "  --python-only  Python frames only; stacks that differ only in native frames merge\n"
    "  --limit N  show the N first stacks (default 10; 0: all)\n"
    "  --json     machine-readable output (exact byte counts)\n"
    MEMTAP_PID_USAGE
    "  -h, --help this text\n";

static const char *order_name(memtap_order_t by) {
    return by == MEMTAP_BY_PEAK        ? "bytes live at the peak"
           : by == MEMTAP_BY_TOTAL     ? "total bytes allocated"
           : by == MEMTAP_BY_COUNT     ? "allocation count"
           : by == MEMTAP_BY_TEMPORARY ? "temporary allocations"
                                       : "bytes leaked";
}

typedef memtap_amount_t classes_t[MEMTAP_LC_COUNT];

/* The leak classes of each of the nview view sites (map: r's site -> view site), or NULL
 * when out of memory. With mask, each view site's leaked figures, and r's totals, become
 * those of the classes in mask. */
static classes_t *view_classes(memtap_replay_t *r, memtap_site_t *view, size_t nview,
                               const uint32_t *map, unsigned mask) {
    memtap_site_leak_t *sl = memtap_site_leaks(r, NULL, NULL);
    classes_t *vc = sl ? calloc(nview ? nview : 1, sizeof *vc) : NULL;
    if (!vc) {
        free(sl);
        return NULL;
    }
    for (size_t s = 1; s < r->sites.n; s++)
        for (unsigned c = 0; c < MEMTAP_LC_COUNT; c++)
            memtap_amount_add(&vc[map[s]][c], sl[s].cls[c]);
    free(sl);
    if (!mask)
        return vc;
    r->leaked_bytes = r->leaked_blocks = 0;
    for (size_t i = 1; i < nview; i++) {
        memtap_amount_t a = {0, 0};
        for (unsigned c = 0; c < MEMTAP_LC_COUNT; c++)
            if (mask >> c & 1)
                memtap_amount_add(&a, vc[i][c]);
        view[i].live_bytes = a.bytes;
        view[i].live_blocks = a.blocks;
        r->leaked_bytes += a.bytes;
        r->leaked_blocks += a.blocks;
    }
    return vc;
}

/* ": definitely lost 24 B in 1 block, indirectly lost 96 B in 4 blocks" (a leak's classes
 * of mask, most serious first) into buf, ": indirectly lost" when it has one class only,
 * "" when it has none. */
static const char *classes_text(const memtap_amount_t *cls, unsigned mask, char *buf, size_t cap) {
    size_t k = 0, nclasses = 0;
    unsigned only = 0;
    buf[0] = '\0';
    for (unsigned c = MEMTAP_LC_REACHABLE; c < MEMTAP_LC_COUNT; c++)
        if (cls[c].blocks && (mask >> c & 1)) {
            nclasses++;
            only = c;
        }
    if (nclasses == 1) { /* the figures are the site's own: the class's name says it */
        snprintf(buf, cap, ": %s", memtap_class_name(only));
        return buf;
    }
    for (unsigned c = MEMTAP_LC_COUNT; c-- > MEMTAP_LC_REACHABLE;) {
        if (!cls[c].blocks || !(mask >> c & 1) || k >= cap)
            continue;
        char s[64], n[64];
        int w = snprintf(buf + k, cap - k, "%s%s %s in %s block%s", k ? ", " : ": ",
                         memtap_class_name(c), memtap_fmt_size(cls[c].bytes, s, sizeof s),
                         memtap_fmt_count(cls[c].blocks, n, sizeof n), cls[c].blocks == 1 ? "" : "s");
        k = w < 0 ? k : k + (size_t)w;
    }
    return buf;
}

/* The text of memtap leaks: the total, then the shown sites of n, each with its classes
 * (vc, when the scan classified the blocks) and its stack. */
static void print_leaks(const memtap_report_opts_t *o, const memtap_replay_t *r,
                        memtap_symbolizer_t *sym, const memtap_site_t *view,
                        const uint32_t *sites, size_t n, size_t shown, const classes_t *vc) {
    uint64_t held_bytes = o->before_teardown ? r->held_bytes : r->leaked_bytes;
    uint64_t held_blocks = o->before_teardown ? r->held_blocks : r->leaked_blocks;
    char a[64], b[64];
    if (n == 0)
        printf("%s: every block allocated was freed (%s allocations).\n",
               o->before_teardown ? "Nothing held when the main program finished" : "No leaks",
               memtap_fmt_count(r->allocations, a, sizeof a));
    else
        printf("%s%s %s in %s blocks from %zu stack%s%s\n", memtap_bold(),
               o->before_teardown ? "Held when the main program finished:" : "Leaked",
               memtap_fmt_size(held_bytes, a, sizeof a), memtap_fmt_count(held_blocks, b, sizeof b),
               n, n == 1 ? "" : "s", memtap_reset());
    for (size_t i = 0; i < shown; i++) {
        const memtap_site_t *s = &view[sites[i]];
        uint64_t bytes = o->before_teardown ? s->held_bytes : s->live_bytes;
        uint64_t blocks = o->before_teardown ? s->held_blocks : s->live_blocks;
        char cl[400] = "";
        if (vc && r->leak_scan == MEMTAP_LEAK_SCAN_DONE)
            classes_text(vc[sites[i]], o->classes ? o->classes : ~0u, cl, sizeof cl);
        printf("\n%s#%zu  %s in %s block%s%s (%.1f%%)%s\n", memtap_red(), i + 1,
               memtap_fmt_size(bytes, a, sizeof a), memtap_fmt_count(blocks, b, sizeof b),
               blocks == 1 ? "" : "s", memtap_reset(),
               held_bytes ? 100.0 * (double)bytes / (double)held_bytes : 0.0, cl);
        memtap_print_stack(stdout, sym, r, s->node, o->python_only, "    ");
    }
}

static int sites_cmd(int argc, char **argv, int leaks) {
    memtap_report_opts_t o;
    int rc = memtap_report_parse(argc, argv, leaks ? "leaks" : "top", leaks ? leaks_usage : top_usage,
                                 !leaks, &o);
    if (rc >= 0)
        return rc;
    if (o.classes && o.before_teardown) {
        fprintf(stderr, "memtap leaks: --class and --before-teardown do not go together (the "
                        "classes are those of the scan at exit)\n");
        return MEMTAP_EXIT_USAGE;
    }
    if (leaks)
        o.by = o.before_teardown ? MEMTAP_BY_HELD : MEMTAP_BY_LEAKED;
    memtap_replay_t r;
    rc = memtap_report_load(o.path, o.pid, &r, 1);
    if (rc != MEMTAP_EXIT_OK)
        return rc;
    if (o.before_teardown && !r.main_done)
        fprintf(stderr, "memtap leaks: %s: the program never reported the end of its main part "
                        "(not Python, or it did not exit normally): showing memory never freed\n",
                o.path);
    size_t n, nview;
    uint32_t *map = malloc((r.sites.n ? r.sites.n : 1) * sizeof *map);
    memtap_site_t *view = map ? memtap_view_sites_map(&r, o.python_only, &nview, map) : NULL;
    classes_t *vc = view && leaks && !o.before_teardown
                        ? view_classes(&r, view, nview, map, o.classes) : NULL;
    uint32_t *sites = view ? memtap_sites_sorted(&r, view, nview, o.by, &n) : NULL;
    free(map);
    if (!view || (leaks && !o.before_teardown && !vc)) {
        fprintf(stderr, "memtap: out of memory\n");
        free(view);
        memtap_replay_free(&r);
        return MEMTAP_EXIT_BAD_INPUT;
    }
    long limit = o.limit >= 0 ? o.limit : (o.json && leaks) ? 0 : leaks ? 20 : 10;
    size_t shown = limit > 0 && (size_t)limit < n ? (size_t)limit : n;
    memtap_symbolizer_t *sym = memtap_symbolizer_new(&r);
    if (!sym) {
        fprintf(stderr, "memtap: out of memory\n");
        free(sites);
        free(view);
        free(vc);
        memtap_replay_free(&r);
        return MEMTAP_EXIT_BAD_INPUT;
    }
    char a[64], b[64], c[64];
    if (o.json) {
        memtap_json_sites(stdout, leaks ? (o.before_teardown ? "held" : "leaks") : "sites",
                          o.path, &r, sym, view, sites, shown, o.python_only,
                          (const memtap_amount_t(*)[MEMTAP_LC_COUNT])vc);
    } else if (leaks) {
        print_leaks(&o, &r, sym, view, sites, n, shown, vc);
    } else {
        printf("%sTop %zu of %zu stacks by %s%s\n", memtap_bold(), shown, n, order_name(o.by),
               memtap_reset());
        for (size_t i = 0; i < shown; i++) {
            const memtap_site_t *s = &view[sites[i]];
            char d[64];
            char e[64];
            printf("\n%s#%zu  at peak %s, total %s in %s calls (%s temporary), leaked %s%s\n",
                   memtap_bold(), i + 1, memtap_fmt_size(memtap_site_peak_bytes(&r, s), a, sizeof a),
                   memtap_fmt_size(s->total_bytes, b, sizeof b),
                   memtap_fmt_count(s->count, c, sizeof c), memtap_fmt_count(s->temporary, e, sizeof e),
                   memtap_fmt_size(s->live_bytes, d, sizeof d), memtap_reset());
            memtap_print_stack(stdout, sym, &r, s->node, o.python_only, "    ");
        }
    }
    if (!o.json && shown < n)
        printf("\n... %zu more stack%s (--limit 0 shows all)\n", n - shown, n - shown == 1 ? "" : "s");
    memtap_symbolizer_free(sym);
    free(sites);
    free(view);
    free(vc);
    memtap_replay_free(&r);
    return MEMTAP_EXIT_OK;
}

int memtap_cmd_leaks(int argc, char **argv) { return sites_cmd(argc, argv, 1); }
int memtap_cmd_top(int argc, char **argv) { return sites_cmd(argc, argv, 0); }
