/* memtap leaks and memtap top: allocation stacks ranked by a figure, each with its stack. */
#include <stdio.h>
#include <stdlib.h>

#include "report/json_out.h"
#include "report/output.h"
#include "report/report.h"

static const char leaks_usage[] =
    "usage: memtap leaks [--before-teardown] [--python-only] [--json] [--limit N] [--pid PID]\n"
    "                    FILE\n"
    "\n"
    "Memory never freed, grouped by identical allocation stack, largest first, each with\n"
    "its blocks, bytes and full stack (innermost frame first; Python frames marked [py]).\n"
    "\n"
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

static int sites_cmd(int argc, char **argv, int leaks) {
    memtap_report_opts_t o;
    int rc = memtap_report_parse(argc, argv, leaks ? "leaks" : "top", leaks ? leaks_usage : top_usage,
                                 !leaks, &o);
    if (rc >= 0)
        return rc;
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
    memtap_site_t *view = memtap_view_sites(&r, o.python_only, &nview);
    uint32_t *sites = view ? memtap_sites_sorted(&r, view, nview, o.by, &n) : NULL;
    if (!view) {
        fprintf(stderr, "memtap: out of memory\n");
        memtap_replay_free(&r);
        return MEMTAP_EXIT_BAD_INPUT;
    }
    uint64_t held_bytes = o.before_teardown ? r.held_bytes : r.leaked_bytes;
    uint64_t held_blocks = o.before_teardown ? r.held_blocks : r.leaked_blocks;
    long limit = o.limit >= 0 ? o.limit : (o.json && leaks) ? 0 : leaks ? 20 : 10;
    size_t shown = limit > 0 && (size_t)limit < n ? (size_t)limit : n;
    memtap_symbolizer_t *sym = memtap_symbolizer_new(&r);
    if (!sym) {
        fprintf(stderr, "memtap: out of memory\n");
        free(sites);
        free(view);
        memtap_replay_free(&r);
        return MEMTAP_EXIT_BAD_INPUT;
    }
    char a[64], b[64], c[64];
    if (o.json) {
        memtap_json_sites(stdout, leaks ? (o.before_teardown ? "held" : "leaks") : "sites",
                          o.path, &r, sym, view, sites, shown, o.python_only);
    } else if (leaks) {
        if (n == 0)
            printf("%s: every block allocated was freed (%s allocations).\n",
                   o.before_teardown ? "Nothing held when the main program finished" : "No leaks",
                   memtap_fmt_count(r.allocations, a, sizeof a));
        else
            printf("%s%s %s in %s blocks from %zu stack%s%s\n", memtap_bold(),
                   o.before_teardown ? "Held when the main program finished:" : "Leaked",
                   memtap_fmt_size(held_bytes, a, sizeof a),
                   memtap_fmt_count(held_blocks, b, sizeof b), n, n == 1 ? "" : "s",
                   memtap_reset());
        for (size_t i = 0; i < shown; i++) {
            const memtap_site_t *s = &view[sites[i]];
            uint64_t bytes = o.before_teardown ? s->held_bytes : s->live_bytes;
            uint64_t blocks = o.before_teardown ? s->held_blocks : s->live_blocks;
            printf("\n%s#%zu  %s in %s block%s%s (%.1f%%)\n", memtap_red(), i + 1,
                   memtap_fmt_size(bytes, a, sizeof a), memtap_fmt_count(blocks, b, sizeof b),
                   blocks == 1 ? "" : "s", memtap_reset(),
                   held_bytes ? 100.0 * (double)bytes / (double)held_bytes : 0.0);
            memtap_print_stack(stdout, sym, &r, s->node, o.python_only, "    ");
        }
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
    memtap_replay_free(&r);
    return MEMTAP_EXIT_OK;
}

int memtap_cmd_leaks(int argc, char **argv) { return sites_cmd(argc, argv, 1); }
int memtap_cmd_top(int argc, char **argv) { return sites_cmd(argc, argv, 0); }
