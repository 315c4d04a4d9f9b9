/* memtap summary: totals, peak, leaks, per allocator kind, threads, duration; then the
 * capture's processes as a tree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/classes.h"
#include "common/errors.h"
#include "report/json_out.h"
#include "report/output.h"
#include "report/report.h"

static const char usage[] =
    "usage: memtap summary [--json] [--pid PID] FILE\n"
    "\n"
    "Totals of a process: allocations, frees, bytes allocated, peak heap (and when),\n"
    "leaked bytes and blocks and their leak classes (definitely, indirectly, possibly\n"
    "lost, still reachable), figures per allocator, threads, duration, completeness.\n"
    "Then, when the capture holds several, its processes as a tree: pid, parent,\n"
    "duration, allocations, peak, leaked, command.\n"
    "\n"
    "  --json     machine-readable output (exact byte counts)\n"
    MEMTAP_PID_USAGE
    "  -h, --help this text\n";

static void row(const char *label, const char *value) {
    printf("%s%-16s%s %s\n", memtap_bold(), label, memtap_reset(), value);
}

#define MAX_INDENT 16 /* levels of the tree shown by indenting */

/* The processes as a tree: one line each, the command indented by depth. */
static void print_processes(const memtap_report_capture_t *cap, const memtap_proc_row_t *rows,
                            size_t n) {
    printf("\n%sProcesses (%zu; memtap summary --pid PID %s shows one)%s\n", memtap_bold(), n,
           cap->path, memtap_reset());
    printf("%s  %9s %9s %10s %12s %10s %10s  %s%s\n", memtap_bold(), "pid", "parent",
           "duration", "allocations", "peak", "leaked", "command", memtap_reset());
    for (size_t k = 0; k < n; k++) {
        const memtap_proc_row_t *row = &rows[k];
        const memtap_process_t *p = &cap->c->processes.v[row->process];
        char d[32] = "-", a[64] = "-", b[64] = "-", c[64] = "-";
        if (row->read) {
            snprintf(d, sizeof d, "%.2f s", (double)row->duration_ms / 1000.0);
            memtap_fmt_count(row->allocations, a, sizeof a);
            memtap_fmt_size(row->peak_bytes, b, sizeof b);
            memtap_fmt_size(row->leaked_bytes, c, sizeof c);
        }
        const char *state = memtap_process_state(cap->c, row->process);
        unsigned depth = p->depth < MAX_INDENT ? p->depth : MAX_INDENT;
        printf("%c %9llu %9llu %10s %12s %10s %10s  %*s%s%s%s%s%s%s\n",
               row->process == cap->process ? '*' : ' ', (unsigned long long)p->pid,
               (unsigned long long)p->ppid, d, a, b, c, (int)(2 * depth), "",
               p->command[0] ? p->command : "(no records)", state[0] ? " (" : "", state,
               state[0] ? ")" : "", row->read ? "" : ": ", row->read ? "" : row->error);
    }
}

/* The "Leak classes" row: what the scan at exit made of the blocks never freed. */
static void classes_row(const memtap_replay_t *r) {
    char line[512], a[64], b[64];
    if (!r->leaked_blocks && !r->regions.n)
        return;
    if (r->leak_scan != MEMTAP_LEAK_SCAN_DONE) {
        row("Leak classes", r->leak_scan == MEMTAP_LEAK_SCAN_MISMATCH
                                ? "none: the scan at exit does not match the capture's blocks"
                                : "none: no leak scan at exit (MEMTAP_LEAK_SCAN=0, or the "
                                  "process did not exit)");
        return;
    }
    memtap_amount_t cls[MEMTAP_LC_COUNT];
    memtap_class_totals(r, cls);
    size_t k = 0;
    for (unsigned c = MEMTAP_LC_DEFINITE; c >= MEMTAP_LC_REACHABLE && k < sizeof line; c--) {
        int w = snprintf(line + k, sizeof line - k, "%s%s %s in %s", k ? ", " : "",
                         memtap_class_name(c), memtap_fmt_size(cls[c].bytes, a, sizeof a),
                         memtap_fmt_count(cls[c].blocks, b, sizeof b));
        k = w < 0 ? k : k + (size_t)w;
    }
    if (k < sizeof line)
        snprintf(line + k, sizeof line - k, " (scan at exit: %llu ms)",
                 (unsigned long long)r->leak_scan_ms);
    row("Leak classes", line);
}

/* The summary's text for r, process cap->process. */
static void print_summary(const memtap_report_capture_t *cap, const memtap_replay_t *r) {
    const memtap_process_t *proc = &cap->c->processes.v[cap->process];
    char a[64], b[64], c[64], line[512];
    const memtap_image_t *first = r->images.n ? &r->images.v[0] : NULL;
    const memtap_image_t *last = r->images.n ? &r->images.v[r->images.n - 1] : NULL;
    const char *state = memtap_process_state(cap->c, cap->process);
    snprintf(line, sizeof line, "%s (%s%s)", cap->path,
             r->complete ? "complete" : "INCOMPLETE: ",
             r->complete ? "" : state[0] == 'k' ? state : "the program did not exit normally");
    row("Capture", line);
    row("Command", !last ? (proc->command[0] ? proc->command : "(no records)")
                   : last->cmdline[0] ? last->cmdline : last->exe);
    if (r->images.n > 1) {
        snprintf(line, sizeof line, "%zu images (exec): first %s", r->images.n, first->cmdline);
        row("Images", line);
    }
    snprintf(line, sizeof line, "pid %llu, %zu thread%s, ran %.2f s",
             (unsigned long long)(first ? first->pid : proc->pid), r->threads.n,
             r->threads.n == 1 ? "" : "s", (double)r->now_ms / 1000.0);
    row("Process", line);
    snprintf(line, sizeof line, "%s calls, %s", memtap_fmt_count(r->allocations, a, sizeof a),
             memtap_fmt_size(r->bytes_allocated, b, sizeof b));
    row("Allocations", line);
    row("Frees", memtap_fmt_count(r->frees, a, sizeof a));
    snprintf(line, sizeof line, "%s (%.1f%% of allocations, freed before any other allocation)",
             memtap_fmt_count(r->temporary, a, sizeof a),
             r->allocations ? 100.0 * (double)r->temporary / (double)r->allocations : 0.0);
    row("Temporary", line);
    snprintf(line, sizeof line, "%s in %s blocks, at %.1f s", memtap_fmt_size(r->peak_bytes, a, sizeof a),
             memtap_fmt_count(r->peak_blocks, b, sizeof b), (double)r->peak_ms / 1000.0);
    row("Peak heap", line);
    if (r->max_rss)
        row("Peak RSS", memtap_fmt_size(r->max_rss, a, sizeof a));
    size_t nleak = 0; /* stacks still holding blocks */
    for (size_t i = 1; i < r->sites.n; i++)
        nleak += r->sites.v[i].live_blocks > 0;
    snprintf(line, sizeof line, "%s%s in %s blocks%s from %zu stack%s",
             r->leaked_bytes ? memtap_red() : "", memtap_fmt_size(r->leaked_bytes, a, sizeof a),
             memtap_fmt_count(r->leaked_blocks, b, sizeof b), memtap_reset(), nleak,
             nleak == 1 ? "" : "s");
    row("Leaked", line);
    classes_row(r);
    if (r->main_done) {
        snprintf(line, sizeof line, "%s in %s blocks (memtap leaks --before-teardown)",
                 memtap_fmt_size(r->held_bytes, a, sizeof a),
                 memtap_fmt_count(r->held_blocks, b, sizeof b));
        row("Held at main end", line);
    }
    if (r->py_codes.n) {
        snprintf(line, sizeof line, "%zu functions seen (reports mark their frames [py])",
                 r->py_codes.n);
        row("Python", line);
    }
    if (r->unknown_frees) {
        snprintf(line, sizeof line, "%s (blocks allocated before tracking started)",
                 memtap_fmt_count(r->unknown_frees, a, sizeof a));
        row("Unmatched frees", line);
    }
    printf("\n%s%-16s %14s %12s %12s %14s %12s%s\n", memtap_bold(), "Allocator", "calls", "bytes",
           "frees", "leaked blocks", "leaked", memtap_reset());
    for (unsigned k = 0; k < MEMTAP_KIND_COUNT; k++) {
        const memtap_kind_stats_t *s = &r->kinds[k];
        if (!s->count && !s->frees)
            continue;
        char d[64], e[64];
        printf("%-16s %14s %12s %12s %14s %12s\n", memtap_kind_name(k),
               memtap_fmt_count(s->count, a, sizeof a), memtap_fmt_size(s->bytes, b, sizeof b),
               memtap_fmt_count(s->frees, c, sizeof c),
               memtap_fmt_count(s->leaked_blocks, d, sizeof d),
               memtap_fmt_size(s->leaked_bytes, e, sizeof e));
    }
}

int memtap_cmd_summary(int argc, char **argv) {
    memtap_report_opts_t o;
    int rc = memtap_report_parse(argc, argv, "summary", usage, 0, &o);
    if (rc >= 0)
        return rc;
    memtap_report_capture_t cap;
    rc = memtap_report_open(&cap, o.path, o.pid);
    if (rc != MEMTAP_EXIT_OK)
        return rc;
    /* the other processes first, one replay at a time, then the one shown */
    size_t n = 0;
    memtap_proc_row_t *rows = memtap_process_rows(&cap, &n);
    memtap_replay_t r;
    char err[512];
    if (!rows || memtap_report_replay(&cap, cap.process, &r, 0, 1, err, sizeof err) != MEMTAP_OK) {
        fprintf(stderr, "memtap: %s: %s\n", o.path, rows ? err : "out of memory");
        memtap_process_rows_free(rows, n);
        memtap_report_close(&cap);
        return MEMTAP_EXIT_BAD_INPUT;
    }
    for (size_t k = 0; k < n; k++)
        if (rows[k].process == cap.process)
            memtap_proc_row_fill(&rows[k], &r);
    memtap_report_warn(&cap, &r);
    if (o.json) {
        memtap_json_summary(stdout, o.path, &r, cap.c, cap.process, rows, n);
    } else {
        print_summary(&cap, &r);
        if (n > 1)
            print_processes(&cap, rows, n);
    }
    memtap_replay_free(&r);
    memtap_process_rows_free(rows, n);
    memtap_report_close(&cap);
    return MEMTAP_EXIT_OK;
}
