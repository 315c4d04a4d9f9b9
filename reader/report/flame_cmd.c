/* What `memtap flamegraph` and `memtap export` share: their options, loading a capture into
 * the flamegraph's model, and opening the output file (never over an existing one without
 * --force, never through a symbolic link). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report/flame.h"
#include "report/flame_cmd.h"
#include "report/report.h"

enum { OPT_PEAK = 256, OPT_LEAKS, OPT_TOTAL, OPT_COUNT, OPT_TEMPORARY, OPT_MIN, OPT_PID };

/* A number from text, whole (integer) or not, in [lo, hi]. Returns 0, or -1. */
static int parse_number(const char *text, double lo, double hi, int integer, double *v) {
    char *end;
    errno = 0;
    double x = integer ? (double)strtol(text, &end, 10) : strtod(text, &end);
    if (errno || end == text || *end || !(x >= lo && x <= hi))
        return -1;
    *v = x;
    return 0;
}

/* The usage error for option argv[optind - 1] (or `opt` when given). */
static int usage_error(const char *cmd, const char *what, const char *opt) {
    fprintf(stderr, "memtap %s: %s '%s' (see memtap %s --help)\n", cmd, what, opt, cmd);
    return MEMTAP_EXIT_USAGE;
}

int memtap_flame_parse(int argc, char **argv, const char *cmd, const char *usage,
                       memtap_flame_opts_t *o) {
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},   {"force", no_argument, NULL, 'f'},
        {"format", required_argument, NULL, 'F'},   {"python-only", no_argument, NULL, 'p'},
        {"peak", no_argument, NULL, OPT_PEAK},      {"leaks", no_argument, NULL, OPT_LEAKS},
        {"total", no_argument, NULL, OPT_TOTAL},    {"count", no_argument, NULL, OPT_COUNT},
        {"temporary", no_argument, NULL, OPT_TEMPORARY},
        {"min-percent", required_argument, NULL, OPT_MIN},
        {"pid", required_argument, NULL, OPT_PID},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int is_export = !strcmp(cmd, "export");
    memset(o, 0, sizeof *o);
    o->min_percent = 0.1;
    o->pid = -1;
    o->format = "folded";
    optind = 1;
    opterr = 0;
    int c;
    double v;
    while ((c = getopt_long(argc, argv, ":o:fh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            o->out = optarg;
            break;
        case 'f':
            o->force = 1;
            break;
        case 'F':
            if (!is_export)
                return usage_error(cmd, "unknown option", argv[optind - 1]);
            if (strcmp(optarg, "folded") && strcmp(optarg, "speedscope") && strcmp(optarg, "json"))
                return usage_error(cmd, "--format takes folded, speedscope or json, not", optarg);
            o->format = optarg;
            break;
        case 'p':
            o->python_only = 1;
            break;
        case OPT_PEAK:
        case OPT_LEAKS:
        case OPT_TOTAL:
        case OPT_COUNT:
        case OPT_TEMPORARY:
            o->view = (memtap_view_t)(c - OPT_PEAK);
            break;
        case OPT_MIN:
            if (parse_number(optarg, 0, 100, 0, &v) < 0)
                return usage_error(cmd, "--min-percent takes a number from 0 to 100, not", optarg);
            o->min_percent = v;
            break;
        case OPT_PID:
            if (parse_number(optarg, 1, 4194304, 1, &v) < 0)
                return usage_error(cmd, "--pid takes a process id, not", optarg);
            o->pid = (long)v;
            break;
        case 'h':
            fputs(usage, stdout);
            return MEMTAP_EXIT_OK;
        case ':':
            return usage_error(cmd, "this option needs a value:", argv[optind - 1]);
        default:
            return usage_error(cmd, "unknown option", argv[optind - 1]);
        }
    }
    int rc = memtap_one_capture_arg(cmd, argc, optind);
    if (rc >= 0)
        return rc;
    o->path = argv[optind];
    return -1;
}

int memtap_flame_check_output(const char *cmd, const char *path, int force) {
    struct stat st;
    if (lstat(path, &st) != 0)
        return -1;
    if (!force) {
        fprintf(stderr, "memtap %s: %s already exists; choose another -o FILE or add --force\n",
                cmd, path);
        return MEMTAP_EXIT_USAGE;
    }
    if (S_ISLNK(st.st_mode)) {
        fprintf(stderr, "memtap %s: %s is a symbolic link; memtap never writes through one\n",
                cmd, path);
        return MEMTAP_EXIT_USAGE;
    }
    return -1;
}

FILE *memtap_flame_open_output(const char *cmd, const char *path, int force) {
    int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (force ? O_TRUNC : O_EXCL),
                  0644);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!out) {
        fprintf(stderr, "memtap %s: cannot write %s: %s\n", cmd, path, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    return out;
}

int memtap_flame_load(const memtap_flame_opts_t *o, int page, memtap_replay_t *r,
                      memtap_symbolizer_t **sym, memtap_flame_t *f) {
    memtap_replay_use_timeline(page ? MEMTAP_TIMELINE_MOMENTS : 0);
    int rc = memtap_report_load(o->path, o->pid, r, 1); /* -1: the root process */
    memtap_replay_use_timeline(0);
    if (rc != MEMTAP_EXIT_OK)
        return rc;
    size_t n = 0;
    memtap_fsite_t *sites = NULL;
    *sym = NULL;
    if ((page && memtap_timeline_finish(r) < 0) || !(*sym = memtap_symbolizer_new(r)) ||
        !(sites = memtap_flame_sites(r, &n)) ||
        memtap_flame_build(f, *sym, r, sites, n, page ? 0 : o->python_only, o->min_percent) < 0) {
        if (sites)
            memtap_flame_free(f);
        free(sites);
        memtap_symbolizer_free(*sym);
        memtap_replay_free(r);
        fprintf(stderr, "memtap: out of memory\n");
        return MEMTAP_EXIT_BAD_INPUT;
    }
    free(sites);
    return MEMTAP_EXIT_OK;
}
