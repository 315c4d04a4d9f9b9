/* Loading a capture for the reports: its index, the process chosen (--pid, else the root),
 * its replay with a progress line, the other processes' figures (one replay at a time, so
 * memory follows one process) and the notes naming the other processes that leaked. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/errors.h"
#include "decode/decoder.h"
#include "decode/pipeline.h"
#include "memtap/container.h"
#include "report/output.h"
#include "report/report.h"
#include "symbolize/symbolize.h"

#define LISTED_PIDS 10 /* pids an unknown --pid's message lists */
#define MAX_NOTES 3    /* other processes that leaked named one by one */

/* The pids of c as "123, 456, ..." into buf. */
static void list_pids(const memtap_container_t *c, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < c->processes.n && len < cap; i++) {
        if (i == LISTED_PIDS) {
            snprintf(buf + len, cap - len, ", ...");
            break;
        }
        len += (size_t)snprintf(buf + len, cap - len, "%s%llu", i ? ", " : "",
                                (unsigned long long)c->processes.v[i].pid);
    }
}

int memtap_report_open(memtap_report_capture_t *cap, const char *path, long long pid) {
    memset(cap, 0, sizeof *cap);
    cap->path = path;
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "memtap: %s: %s\n", path, strerror(errno));
        return MEMTAP_EXIT_USAGE;
    }
    int rc = memtap_container_open(&cap->c, path);
    if (rc != MEMTAP_OK) {
        fprintf(stderr, "memtap: %s: %s\n", path, cap->c ? cap->c->error : "out of memory");
        memtap_report_close(cap);
        return rc == MEMTAP_ERR_IO ? MEMTAP_EXIT_USAGE : MEMTAP_EXIT_BAD_INPUT;
    }
    cap->process = memtap_container_find(cap->c, pid);
    if (cap->process == MEMTAP_NONE) {
        char pids[256];
        list_pids(cap->c, pids, sizeof pids);
        fprintf(stderr, "memtap: %s has no process %lld (processes: %s)\n", path, pid, pids);
        memtap_report_close(cap);
        return MEMTAP_EXIT_USAGE;
    }
    if (pid < 0 && cap->c->root == MEMTAP_NONE)
        fprintf(stderr,
                "memtap: %s: the program memtap run started wrote no records; showing "
                "process %llu, the first in the capture\n",
                path, (unsigned long long)cap->c->processes.v[cap->process].pid);
    return MEMTAP_EXIT_OK;
}

void memtap_report_close(memtap_report_capture_t *cap) {
    memtap_container_free(cap->c);
    cap->c = NULL;
}

const char *memtap_process_state(const memtap_container_t *c, uint32_t i) {
    static char buf[48];
    const memtap_process_t *p = &c->processes.v[i];
    if (p->killed && p->signal)
        snprintf(buf, sizeof buf, "killed by signal %u", p->signal);
    else
        snprintf(buf, sizeof buf, "%s", p->killed ? "killed" : p->complete ? "" : "incomplete");
    return buf;
}

void memtap_report_warn(const memtap_report_capture_t *cap, const memtap_replay_t *r) {
    if (r->complete)
        return;
    const char *state = memtap_process_state(cap->c, cap->process);
    char why[96] = "the program was killed or is still running";
    if (state[0] == 'k')
        snprintf(why, sizeof why, "process %llu was %s",
                 (unsigned long long)cap->c->processes.v[cap->process].pid, state);
    fprintf(stderr, "memtap: %s: incomplete capture (%s); figures cover what was written\n",
            cap->path, why);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The batches of dec into r, with the progress line. Returns MEMTAP_OK or an error code. */
static int replay_batches(const memtap_report_capture_t *cap, memtap_decoder_t *dec,
                          memtap_replay_t *r, int symbols, int progress) {
    int tty = progress && isatty(STDERR_FILENO), shown = 0;
    double start = now_s(), last = start;
    memtap_pipeline_t *pipe;
    int rc = memtap_pipeline_start(&pipe, dec);
    while (rc == MEMTAP_OK) {
        memtap_batch_t *b = memtap_pipeline_take(pipe);
        rc = b->rc;
        int end = b->end;
        if (memtap_replay_batch(r, b) < 0)
            rc = MEMTAP_ERR_NOMEM;
        if (symbols && r->modules.n > 0) { /* the first batch lists the program's modules */
            memtap_symbols_warm_up(r);
            symbols = 0;
        }
        if (tty && rc == MEMTAP_OK && !end) {
            double t = now_s();
            if (t - start > 1.0 && t - last > 0.25) {
                fprintf(stderr, "\rmemtap: reading %s: %3.0f%%", cap->path,
                        b->total ? 100.0 * (double)b->done / (double)b->total : 0.0);
                last = t;
                shown = 1;
            }
        }
        memtap_pipeline_give(pipe, b);
        if (end)
            break;
    }
    memtap_pipeline_stop(pipe);
    if (shown)
        fprintf(stderr, "\r\033[K");
    return rc;
}

int memtap_report_replay(const memtap_report_capture_t *cap, uint32_t process, memtap_replay_t *r,
                         int symbols, int progress, char *err, size_t err_cap) {
    if (memtap_replay_init(r) < 0) {
        snprintf(err, err_cap, "out of memory");
        return MEMTAP_ERR_NOMEM;
    }
    memtap_decoder_t *dec;
    int rc = memtap_decoder_open_process(&dec, cap->c, process);
    if (rc == MEMTAP_OK)
        rc = replay_batches(cap, dec, r, symbols, progress);
    if (rc != MEMTAP_OK) {
        snprintf(err, err_cap, "%s",
                 rc == MEMTAP_ERR_NOMEM || !dec ? "out of memory" : memtap_decoder_error(dec));
        memtap_decoder_free(dec);
        memtap_replay_free(r);
        return rc;
    }
    memtap_decoder_free(dec);
    memtap_replay_finish(r);
    return MEMTAP_OK;
}

void memtap_proc_row_fill(memtap_proc_row_t *row, const memtap_replay_t *r) {
    row->read = 1;
    row->complete = r->complete;
    row->duration_ms = r->now_ms;
    row->allocations = r->allocations;
    row->frees = r->frees;
    row->bytes_allocated = r->bytes_allocated;
    row->peak_bytes = r->peak_bytes;
    row->leaked_bytes = r->leaked_bytes;
    row->leaked_blocks = r->leaked_blocks;
}

/* Process i's figures into row (its replay freed at once). */
static void replay_row(const memtap_report_capture_t *cap, uint32_t i, memtap_proc_row_t *row) {
    memtap_replay_t r;
    char err[512];
    row->process = i;
    if (memtap_report_replay(cap, i, &r, 0, 1, err, sizeof err) != MEMTAP_OK) {
        row->error = strdup(err);
        return;
    }
    memtap_proc_row_fill(row, &r);
    memtap_replay_free(&r);
}

int memtap_process_order(const memtap_container_t *c, uint32_t *order) {
    size_t n = c->processes.n;
    uint32_t *first = malloc(n * sizeof *first), *next = malloc(n * sizeof *next);
    uint32_t *last = malloc(n * sizeof *last);
    if (!first || !next || !last) {
        free(first);
        free(next);
        free(last);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        first[i] = next[i] = last[i] = MEMTAP_NONE;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t p = c->processes.v[i].parent;
        if (p == MEMTAP_NONE)
            continue;
        if (first[p] == MEMTAP_NONE)
            first[p] = i;
        else
            next[last[p]] = i;
        last[p] = i;
    }
    size_t k = 0;
    for (uint32_t top = 0; top < n; top++) {
        if (c->processes.v[top].parent != MEMTAP_NONE)
            continue;
        /* depth first without a stack: down to the first child, else on to the next
         * sibling of the nearest ancestor that has one */
        uint32_t i = top;
        for (;;) {
            order[k++] = i;
            if (first[i] != MEMTAP_NONE) {
                i = first[i];
                continue;
            }
            while (i != top && next[i] == MEMTAP_NONE)
                i = c->processes.v[i].parent;
            if (i == top)
                break;
            i = next[i];
        }
    }
    free(first);
    free(next);
    free(last);
    return 0;
}

memtap_proc_row_t *memtap_process_rows(const memtap_report_capture_t *cap, size_t *n) {
    size_t count = cap->c->processes.n;
    memtap_proc_row_t *rows = calloc(count, sizeof *rows);
    uint32_t *order = malloc(count * sizeof *order);
    if (!rows || !order || memtap_process_order(cap->c, order) < 0) {
        free(rows);
        free(order);
        return NULL;
    }
    for (size_t k = 0; k < count; k++) {
        rows[k].process = order[k];
        if (order[k] != cap->process)
            replay_row(cap, order[k], &rows[k]);
    }
    free(order);
    *n = count;
    return rows;
}

void memtap_process_rows_free(memtap_proc_row_t *rows, size_t n) {
    for (size_t i = 0; rows && i < n; i++)
        free(rows[i].error);
    free(rows);
}

static int by_leaked_bytes(const void *a, const void *b) {
    const memtap_proc_row_t *x = *(const memtap_proc_row_t *const *)a;
    const memtap_proc_row_t *y = *(const memtap_proc_row_t *const *)b;
    if (x->leaked_bytes != y->leaked_bytes)
        return x->leaked_bytes < y->leaked_bytes ? 1 : -1;
    return x->process < y->process ? -1 : x->process > y->process;
}

/* Without --pid: a line for each other process that could not be read, and for the ones
 * that leaked most, up to MAX_NOTES, then one line for the rest: the dozens of helpers of a
 * shell script, each leaking its stdio buffers, never bury the report. */
static void note_other_leaks(const memtap_report_capture_t *cap, memtap_proc_row_t *rows,
                             size_t n) {
    const memtap_proc_row_t **leaked = malloc((n ? n : 1) * sizeof *leaked);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const memtap_proc_row_t *row = &rows[i];
        const memtap_process_t *p = &cap->c->processes.v[row->process];
        if (row->process == cap->process)
            continue;
        if (!row->read)
            fprintf(stderr, "memtap: %s: process %llu (%.60s): %s\n", cap->path,
                    (unsigned long long)p->pid, p->command, row->error ? row->error : "");
        else if (row->leaked_blocks && leaked)
            leaked[k++] = row;
    }
    if (!leaked)
        return;
    qsort(leaked, k, sizeof *leaked, by_leaked_bytes);
    char a[64], b[64];
    uint64_t rest = 0;
    for (size_t i = 0; i < k; i++) {
        const memtap_proc_row_t *row = leaked[i];
        const memtap_process_t *p = &cap->c->processes.v[row->process];
        if (i >= MAX_NOTES) {
            rest += row->leaked_bytes;
            continue;
        }
        const char *state = memtap_process_state(cap->c, row->process);
        fprintf(
            stderr,
            "memtap: process %llu (%.60s) leaked %s in %s block%s%s%s: memtap leaks "
            "--pid %llu %s\n",
            (unsigned long long)p->pid, p->command, memtap_fmt_size(row->leaked_bytes, a, sizeof a),
            memtap_fmt_count(row->leaked_blocks, b, sizeof b), row->leaked_blocks == 1 ? "" : "s",
            state[0] ? "; " : "", state, (unsigned long long)p->pid, cap->path);
    }
    if (k > MAX_NOTES)
        fprintf(stderr,
                "memtap: %zu more process%s leaked %s in all: memtap summary %s lists "
                "them\n",
                k - MAX_NOTES, k - MAX_NOTES == 1 ? "" : "es", memtap_fmt_size(rest, a, sizeof a),
                cap->path);
    free(leaked);
}

int memtap_report_load(const char *path, long long pid, memtap_replay_t *r, int symbols) {
    memtap_report_capture_t cap;
    int rc = memtap_report_open(&cap, path, pid);
    if (rc != MEMTAP_EXIT_OK)
        return rc;
    /* the others first, one at a time: memory never holds two processes */
    size_t n = 0;
    memtap_proc_row_t *rows = NULL;
    if (pid < 0 && cap.c->processes.n > 1 && !(rows = memtap_process_rows(&cap, &n))) {
        fprintf(stderr, "memtap: out of memory\n");
        memtap_report_close(&cap);
        return MEMTAP_EXIT_BAD_INPUT;
    }
    char err[512];
    rc = memtap_report_replay(&cap, cap.process, r, symbols, 1, err, sizeof err);
    if (rc != MEMTAP_OK) {
        fprintf(stderr, "memtap: %s: %s\n", path, err);
    } else {
        memtap_report_warn(&cap, r);
        note_other_leaks(&cap, rows, n);
    }
    memtap_process_rows_free(rows, n);
    memtap_report_close(&cap);
    return rc == MEMTAP_OK ? MEMTAP_EXIT_OK : MEMTAP_EXIT_BAD_INPUT;
}
