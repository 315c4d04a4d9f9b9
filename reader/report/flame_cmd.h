/* What `memtap flamegraph` (flamegraph.c) and `memtap export` (export.c) share
 * (flame_cmd.c): options, loading a capture into the flamegraph's model, the output file.
 * Not for use inside malloc. */
#ifndef MEMTAP_READER_FLAME_CMD_H
#define MEMTAP_READER_FLAME_CMD_H

#include <stdio.h>

#include "report/flame.h"

typedef struct {
    const char *path;     /* the capture */
    const char *out;      /* -o FILE; NULL: the command's default */
    const char *format;   /* export --format */
    memtap_view_t view;   /* --peak (default), --leaks, --total, --count, --temporary */
    int python_only;      /* --python-only */
    int force;            /* --force: overwrite an existing output file */
    double min_percent;   /* --min-percent P (default 0.1) */
    long pid;             /* --pid PID; -1: not given */
} memtap_flame_opts_t;

/* Parses "CMD [-o FILE] [--force] [--format F] [--peak|--leaks|--total|--count|--temporary]
 * [--python-only] [--min-percent P] [--pid PID] FILE" (--format for export only). Returns
 * -1 to go on, else the exit status to return at once (after --help or a usage error). */
int memtap_flame_parse(int argc, char **argv, const char *cmd, const char *usage,
                       memtap_flame_opts_t *o);

/* Loads o->path into r, makes *sym and builds f from r's sites. For the page (page = 1)
 * r has a timeline (finished) and f its thread sites, stacks in full (the page has its own
 * Python-only switch); for an export, r's sites and o->python_only. Returns
 * MEMTAP_EXIT_OK, or the exit status after the error is said (r, *sym and f freed). */
int memtap_flame_load(const memtap_flame_opts_t *o, int page, memtap_replay_t *r,
                      memtap_symbolizer_t **sym, memtap_flame_t *f);

int memtap_cmd_flamegraph(int argc, char **argv);
int memtap_cmd_export(int argc, char **argv);

/* When path exists: with force, -1 (go on) unless it is a symbolic link; without, the usage
 * error, said. -1 when it does not exist. */
int memtap_flame_check_output(const char *cmd, const char *path, int force);

/* path opened for writing (created; replaced only with force; never through a symbolic
 * link), or NULL with the error said. */
FILE *memtap_flame_open_output(const char *cmd, const char *path, int force);

#endif
