/* The leak check's verdict: every process of a capture judged in turn (its blocks still
 * live at exit by class, suppressions applied), the totals, the leak sites that count and
 * whether the check passed. What memtap run --check and memtap check print and write
 * (cli/check_cmd.c, verdict_json.c, junit.c). May call check/classes, replay, symbolize. */
#ifndef MEMTAP_READER_CHECK_VERDICT_H
#define MEMTAP_READER_CHECK_VERDICT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "check/classes.h"
#include "check/suppress.h"
#include "common/vec.h"
#include "replay/replay.h"
#include "symbolize/symbolize.h"

#define MEMTAP_CHECK_EXIT_DEFAULT 23 /* as LeakSanitizer's */

/* What the command line asked of the check. */
typedef struct {
    int enabled;           /* memtap run: --check or one of the options below was given */
    unsigned classes;      /* bit c: class c fails the check (default: definite, indirect,
                              and unknown: a process without classes) */
    uint64_t max_bytes;    /* fails only above this many bytes (--max-leak-bytes) */
    int exit_code;         /* --check-exit-code (default 23) */
    int no_default;        /* --no-default-suppressions */
    const char *supp[16];  /* --suppressions FILE... */
    size_t nsupp;
    const char *json_path, *junit_path; /* --check-json, --junit */
    long long pid;         /* memtap check --pid: judge that process only (-1: all) */
    long long limit;       /* leak sites in the text report (-1: the default, 0: all) */
} memtap_check_opts_t;

/* Defaults: classes definite + indirect (+ unknown), no threshold, exit code 23. */
void memtap_check_opts_init(memtap_check_opts_t *o);

/* The options memtap run and memtap check share: getopt_long entries with these values,
 * parsed by memtap_check_option. */
enum {
    MEMTAP_OPT_CHECK = 0x1000,
    MEMTAP_OPT_CHECK_EXIT,
    MEMTAP_OPT_SUPPRESSIONS,
    MEMTAP_OPT_NO_DEFAULT_SUPP,
    MEMTAP_OPT_MAX_LEAK,
    MEMTAP_OPT_CHECK_JSON,
    MEMTAP_OPT_JUNIT,
};
#define MEMTAP_CHECK_LONGOPTS                                                                     \
    {"check", optional_argument, NULL, MEMTAP_OPT_CHECK},                                         \
        {"check-exit-code", required_argument, NULL, MEMTAP_OPT_CHECK_EXIT},                      \
        {"suppressions", required_argument, NULL, MEMTAP_OPT_SUPPRESSIONS},                       \
        {"no-default-suppressions", no_argument, NULL, MEMTAP_OPT_NO_DEFAULT_SUPP},               \
        {"max-leak-bytes", required_argument, NULL, MEMTAP_OPT_MAX_LEAK},                         \
        {"check-json", required_argument, NULL, MEMTAP_OPT_CHECK_JSON},                           \
        {"junit", required_argument, NULL, MEMTAP_OPT_JUNIT}

/* Applies option c (one of MEMTAP_OPT_*) with its argument to o. Returns 1 when c is one
 * of them, 0 when not, -1 after printing a usage error (cmd names the command). */
int memtap_check_option(memtap_check_opts_t *o, int c, const char *arg, const char *cmd);

/* The usage lines of the shared options. */
extern const char memtap_check_usage[];

/* A stack frame kept for the reports after its process's replay is gone. */
typedef struct {
    char *function, *file, *module; /* function never NULL */
    unsigned line;
    int python, inlined;
} memtap_check_frame_t;

/* A leak site that counts: a stack of one process, with its live blocks by class. */
typedef struct {
    uint32_t process;                     /* index in the verdict's processes */
    memtap_amount_t cls[MEMTAP_LC_COUNT]; /* every class of the stack */
    memtap_amount_t judged;               /* of the classes the check judges */
    unsigned judged_classes;              /* those classes (bit c: class c) */
    memtap_check_frame_t *frames;
    size_t nframes;
    size_t where; /* the frame that names the site: the innermost with a source line */
} memtap_check_leak_t;

typedef struct {
    uint64_t pid, ppid;
    char *command;
    int judged;    /* 0: not judged (killed, cut short, unreadable: see note) */
    int classes;   /* 1: the scan's classes; 0: none, every block counted as definite */
    char *note;    /* why not judged or without classes, NULL */
    memtap_amount_t cls[MEMTAP_LC_COUNT], suppressed, judged_amount;
} memtap_check_process_t;

typedef struct {
    memtap_check_opts_t opts;
    memtap_amount_t cls[MEMTAP_LC_COUNT], suppressed, judged;
    MEMTAP_VEC(memtap_check_process_t) procs;
    MEMTAP_VEC(memtap_check_leak_t) leaks;
    int passed; /* after memtap_verdict_finish */
} memtap_verdict_t;

void memtap_verdict_init(memtap_verdict_t *v, const memtap_check_opts_t *o);
void memtap_verdict_free(memtap_verdict_t *v);

/* Judges process r (pid, ppid and command as the capture lists it; r read to its end and
 * finished) with its symbols and the suppressions. Returns 0, or -1 when out of memory. */
int memtap_verdict_add(memtap_verdict_t *v, const memtap_replay_t *r, memtap_symbolizer_t *sym,
                       const memtap_suppressions_t *sup, uint64_t pid, uint64_t ppid,
                       const char *command);

/* A process the check could not judge, and why (killed, unreadable). Returns 0 or -1. */
int memtap_verdict_skip(memtap_verdict_t *v, uint64_t pid, uint64_t ppid, const char *command,
                        const char *why);

/* Sorts the leaks (most bytes first) and decides: passed when at least one process was
 * judged and the judged bytes are at most opts.max_bytes. */
void memtap_verdict_finish(memtap_verdict_t *v);

/* The JSON verdict (verdict_json.c): {"passed", "definitely_lost": {"bytes", "blocks"},
 * "indirectly_lost", "possibly_lost", "still_reachable", "suppressed", "processes",
 * "leaks"}. Returns 0, or -1 (errno) when the file cannot be written. */
int memtap_verdict_json(const memtap_verdict_t *v, const char *path);

/* JUnit XML (junit.c): one failing test case per leak site, or one passing test case.
 * Returns 0, or -1 (errno) when the file cannot be written. */
int memtap_verdict_junit(const memtap_verdict_t *v, const char *path);

#endif
