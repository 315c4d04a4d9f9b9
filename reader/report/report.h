/* What the report commands share: option parsing, loading a process of a capture (with a
 * progress line) and its processes (load.c), sorting allocation sites, and the
 * command entry points. */
#ifndef MEMTAP_READER_REPORT_H
#define MEMTAP_READER_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "container/container.h"
#include "replay/replay.h"

typedef enum {
    MEMTAP_BY_PEAK,
    MEMTAP_BY_TOTAL,
    MEMTAP_BY_COUNT,
    MEMTAP_BY_LEAKED,
    MEMTAP_BY_TEMPORARY,
    MEMTAP_BY_HELD /* live when the main program finished (leaks --before-teardown) */
} memtap_order_t;

typedef struct {
    const char *path;
    int json;
    long limit; /* 0: no limit, -1: not given */
    memtap_order_t by;
    int python_only;     /* --python-only */
    int before_teardown; /* --before-teardown (leaks) */
    long long pid;       /* --pid PID: the process shown; -1 (not given): the root process */
    unsigned classes;    /* leaks --class: bit c for leak class c (check/classes.h); 0: all */
} memtap_report_opts_t;

/* Exit statuses. */
enum { MEMTAP_EXIT_OK = 0, MEMTAP_EXIT_BAD_INPUT = 1, MEMTAP_EXIT_USAGE = 2 };

/* The capture argument after a command's options (argv[optind]): -1 when there is exactly
 * one, else a line on stderr ("which capture?" or "give exactly one FILE") and the usage
 * exit status. */
int memtap_one_capture_arg(const char *cmd, int argc, int optind_now);

/* Parses "CMD [--json] [--limit N] [--by ...] [--python-only] [--before-teardown]
 * [--class LIST] (leaks only) [--pid PID] FILE" (--by only when allow_by is 1, --before-teardown only when it is 0).
 * Returns -1 to go on, else the exit status to return at once (after --help, or a usage
 * error already printed). */
int memtap_report_parse(int argc, char **argv, const char *cmd, const char *usage, int allow_by,
                        memtap_report_opts_t *o);

/* The usage text's line for --pid, for every report's --help. */
#define MEMTAP_PID_USAGE                                                                           \
    "  --pid PID  the process PID of the capture (default: the program memtap run started,\n"     \
    "             followed through its execs; memtap summary lists them all)\n"

/* Reads process pid of the capture at path (-1: the root process: the one memtap run
 * started, through its execs) into r (initialised here), and warns on stderr when it is
 * incomplete; with symbols (the report will symbolize stacks), the modules' symbols are read
 * meanwhile (memtap_symbols_warm_up). With pid -1, names on stderr the other processes
 * that leaked most (three, one line each with the command that shows it; one line for the
 * rest). Returns MEMTAP_EXIT_OK
 * (free r when done), or prints the error as one line, frees r and returns the exit status
 * (2 for a pid the capture does not hold). What every report (summary, leaks, top,
 * flamegraph, export, check) calls with its --pid. */
int memtap_report_load(const char *path, long long pid, memtap_replay_t *r, int symbols);

/* ---- load.c: a capture's processes ------------------------------------------------- */

/* A capture opened for reports: its index and the process chosen. */
typedef struct {
    const char *path;
    memtap_container_t *c;
    uint32_t process; /* the process shown (index in c->processes) */
} memtap_report_capture_t;

/* Indexes the capture at path and chooses process pid (-1: the root). Returns
 * MEMTAP_EXIT_OK (close it when done), or prints the error as one line and returns the exit
 * status (cap closed). */
int memtap_report_open(memtap_report_capture_t *cap, const char *path, long long pid);
void memtap_report_close(memtap_report_capture_t *cap);

/* Replays process `process` of cap into r (initialised here), with a progress line on a
 * terminal when progress, warming up symbols when symbols. Returns MEMTAP_OK, or an error
 * code with its message in err (r then freed). */
int memtap_report_replay(const memtap_report_capture_t *cap, uint32_t process, memtap_replay_t *r,
                          int symbols, int progress, char *err, size_t err_cap);

/* Warns on stderr when r, cap's process, is incomplete (killed, or the file cut short). */
void memtap_report_warn(const memtap_report_capture_t *cap, const memtap_replay_t *r);

/* "killed by signal 9", "incomplete" or "" for process i of c (a static buffer). */
const char *memtap_process_state(const memtap_container_t *c, uint32_t i);

/* The processes of c in tree order into order[0..c->processes.n): parents before children,
 * siblings in the order they started (a parent always starts before its child). Returns 0,
 * or -1 when out of memory. */
int memtap_process_order(const memtap_container_t *c, uint32_t *order);

/* What one process's replay says, for the list of processes. */
typedef struct {
    uint32_t process; /* index in the capture's processes */
    int read;         /* its records were read (else: error) */
    char *error;      /* why not (malloc'd) */
    int complete;
    uint64_t duration_ms, allocations, frees, bytes_allocated, peak_bytes;
    uint64_t leaked_bytes, leaked_blocks;
} memtap_proc_row_t;

/* Every process of cap, in tree order (each after its parent, siblings in the order they
 * started); each but cap->process is replayed here, one at a time (that one's row is filled
 * by memtap_proc_row_fill). *n gets the count. NULL when out of memory. */
memtap_proc_row_t *memtap_process_rows(const memtap_report_capture_t *cap, size_t *n);
void memtap_proc_row_fill(memtap_proc_row_t *row, const memtap_replay_t *r);
void memtap_process_rows_free(memtap_proc_row_t *rows, size_t n);


/* The sites a report ranks: r's own, or with python_only, one per distinct Python stack
 * (sites without Python frames stay as they are) with figures summed. *n counts entries
 * including the unused [0]. Returns a malloc'd array, NULL when out of memory. */
memtap_site_t *memtap_view_sites(const memtap_replay_t *r, int python_only, size_t *n);

/* The same, and with map (r->sites.n entries, may be NULL), the view entry of each of r's
 * sites. */
memtap_site_t *memtap_view_sites_map(const memtap_replay_t *r, int python_only, size_t *n,
                                     uint32_t *map);

/* Sites with a non-zero figure for `by`, largest first (ties: more blocks, older site).
 * Returns a malloc'd array of indexes into sites (NULL when none or out of memory). */
uint32_t *memtap_sites_sorted(const memtap_replay_t *r, const memtap_site_t *sites,
                              size_t nsites, memtap_order_t by, size_t *n);

int memtap_cmd_summary(int argc, char **argv);
int memtap_cmd_leaks(int argc, char **argv);
int memtap_cmd_top(int argc, char **argv);
int memtap_cmd_run(int argc, char **argv);

#endif
