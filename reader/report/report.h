/* What the report commands share: option parsing, loading a capture (with a progress line),
 * sorting allocation sites, and the command entry points. */
#ifndef MEMTAP_READER_REPORT_H
#define MEMTAP_READER_REPORT_H

#include <stddef.h>
#include <stdint.h>

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
} memtap_report_opts_t;

/* Exit statuses. */
enum { MEMTAP_EXIT_OK = 0, MEMTAP_EXIT_BAD_INPUT = 1, MEMTAP_EXIT_USAGE = 2 };

/* Parses "CMD [--json] [--limit N] [--by ...] [--python-only] [--before-teardown] FILE"
 * (--by only when allow_by is 1, --before-teardown only when it is 0). Returns -1 to go on, else the exit
 * status to return at once (after --help, or a usage error already printed). */
int memtap_report_parse(int argc, char **argv, const char *cmd, const char *usage, int allow_by,
                        memtap_report_opts_t *o);

/* Reads the whole capture into r (initialised here) and warns on stderr when it is
 * incomplete; with symbols (the report will symbolize stacks), the modules' symbols are
 * read meanwhile (memtap_symbols_warm_up). Returns MEMTAP_EXIT_OK (free r when done), or
 * prints the error as one line, frees r and returns the exit status. */
int memtap_report_load(const char *path, memtap_replay_t *r, int symbols);

/* The sites a report ranks: r's own, or with python_only, one per distinct Python stack
 * (sites without Python frames stay as they are) with figures summed. *n counts entries
 * including the unused [0]. Returns a malloc'd array, NULL when out of memory. */
memtap_site_t *memtap_view_sites(const memtap_replay_t *r, int python_only, size_t *n);

/* Sites with a non-zero figure for `by`, largest first (ties: more blocks, older site).
 * Returns a malloc'd array of indexes into sites (NULL when none or out of memory). */
uint32_t *memtap_sites_sorted(const memtap_replay_t *r, const memtap_site_t *sites,
                              size_t nsites, memtap_order_t by, size_t *n);

int memtap_cmd_summary(int argc, char **argv);
int memtap_cmd_leaks(int argc, char **argv);
int memtap_cmd_top(int argc, char **argv);
int memtap_cmd_run(int argc, char **argv);

#endif
