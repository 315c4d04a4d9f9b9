/* memtap summary: totals, peak, leaks, per allocator kind, threads, duration. */
#include <stdio.h>
#include <stdlib.h>

#include "report/json_out.h"
#include "report/output.h"
#include "report/report.h"

static const char usage[] =
    "usage: memtap summary [--json] FILE\n"
    "\n"
    "Totals of a capture: allocations, frees, bytes allocated, peak heap (and when),\n"
    "leaked bytes and blocks, figures per allocator, threads, duration, completeness.\n"
    "\n"
    "  --json     machine-readable output (exact byte counts)\n"
    "  -h, --help this text\n";

static void row(const char *label, const char *value) {
    printf("%s%-16s%s %s\n", memtap_bold(), label, memtap_reset(), value);
}

int memtap_cmd_summary(int argc, char **argv) {
    memtap_report_opts_t o;
    int rc = memtap_report_parse(argc, argv, "summary", usage, 0, &o);
    if (rc >= 0)
        return rc;
    memtap_replay_t r;
    rc = memtap_report_load(o.path, &r, 0);
    if (rc != MEMTAP_EXIT_OK)
        return rc;
    if (o.json) {
        memtap_json_summary(stdout, o.path, &r);
        memtap_replay_free(&r);
        return MEMTAP_EXIT_OK;
    }
    char a[64], b[64], c[64], line[512];
    const memtap_image_t *first = &r.images.v[0], *last = &r.images.v[r.images.n - 1];
    snprintf(line, sizeof line, "%s (%s)", o.path,
             r.complete ? "complete" : "INCOMPLETE: the program did not exit normally");
    row("Capture", line);
    row("Command", last->cmdline[0] ? last->cmdline : last->exe);
    if (r.images.n > 1) {
        snprintf(line, sizeof line, "%zu images (exec): first %s", r.images.n, first->cmdline);
        row("Images", line);
    }
    snprintf(line, sizeof line, "pid %llu, %zu thread%s, ran %.2f s",
             (unsigned long long)first->pid, r.threads.n, r.threads.n == 1 ? "" : "s",
             (double)r.now_ms / 1000.0);
    row("Process", line);
    snprintf(line, sizeof line, "%s calls, %s", memtap_fmt_count(r.allocations, a, sizeof a),
             memtap_fmt_size(r.bytes_allocated, b, sizeof b));
    row("Allocations", line);
    row("Frees", memtap_fmt_count(r.frees, a, sizeof a));
    snprintf(line, sizeof line, "%s (%.1f%% of allocations, freed before any other allocation)",
             memtap_fmt_count(r.temporary, a, sizeof a),
             r.allocations ? 100.0 * (double)r.temporary / (double)r.allocations : 0.0);
    row("Temporary", line);
    snprintf(line, sizeof line, "%s in %s blocks, at %.1f s", memtap_fmt_size(r.peak_bytes, a, sizeof a),
             memtap_fmt_count(r.peak_blocks, b, sizeof b), (double)r.peak_ms / 1000.0);
    row("Peak heap", line);
    if (r.max_rss)
        row("Peak RSS", memtap_fmt_size(r.max_rss, a, sizeof a));
    size_t nleak = 0; /* stacks still holding blocks */
    for (size_t i = 1; i < r.sites.n; i++)
        nleak += r.sites.v[i].live_blocks > 0;
    snprintf(line, sizeof line, "%s%s in %s blocks%s from %zu stack%s",
             r.leaked_bytes ? memtap_red() : "", memtap_fmt_size(r.leaked_bytes, a, sizeof a),
             memtap_fmt_count(r.leaked_blocks, b, sizeof b), memtap_reset(), nleak,
             nleak == 1 ? "" : "s");
    row("Leaked", line);
    if (r.main_done) {
        snprintf(line, sizeof line, "%s in %s blocks (memtap leaks --before-teardown)",
                 memtap_fmt_size(r.held_bytes, a, sizeof a),
                 memtap_fmt_count(r.held_blocks, b, sizeof b));
        row("Held at main end", line);
    }
    if (r.py_codes.n) {
        snprintf(line, sizeof line, "%zu functions seen (reports mark their frames [py])",
                 r.py_codes.n);
        row("Python", line);
    }
    if (r.unknown_frees) {
        snprintf(line, sizeof line, "%s (blocks allocated before tracking started)",
                 memtap_fmt_count(r.unknown_frees, a, sizeof a));
        row("Unmatched frees", line);
    }
    printf("\n%s%-16s %14s %12s %12s %14s %12s%s\n", memtap_bold(), "Allocator", "calls", "bytes",
           "frees", "leaked blocks", "leaked", memtap_reset());
    for (unsigned k = 0; k < MEMTAP_KIND_COUNT; k++) {
        const memtap_kind_stats_t *s = &r.kinds[k];
        if (!s->count && !s->frees)
            continue;
        char d[64], e[64];
        printf("%-16s %14s %12s %12s %14s %12s\n", memtap_kind_name(k),
               memtap_fmt_count(s->count, a, sizeof a), memtap_fmt_size(s->bytes, b, sizeof b),
               memtap_fmt_count(s->frees, c, sizeof c),
               memtap_fmt_count(s->leaked_blocks, d, sizeof d),
               memtap_fmt_size(s->leaked_bytes, e, sizeof e));
    }
    memtap_replay_free(&r);
    return MEMTAP_EXIT_OK;
}
