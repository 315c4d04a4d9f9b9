/* memtap check, and the check memtap run --check makes after the program: each process of
 * the capture replayed in turn (memory follows one process), judged (reader/check), then
 * the report, the JSON verdict and the JUnit file. */
#include "cli/check_cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "report/output.h"
#include "report/report.h"

static const char usage_head[] =
    "usage: memtap check [--check=WHAT] [--max-leak-bytes N] [--suppressions FILE]...\n"
    "                    [--no-default-suppressions] [--check-exit-code N] [--json]\n"
    "                    [--check-json FILE] [--junit FILE] [--limit N] [--pid PID] FILE\n"
    "\n"
    "The leak check of memtap run --check on an existing capture: every process of it is\n"
    "judged by the leak scan's classes; exit status 0 when it passes, 23 (or N) when leaks\n"
    "fail it, 1 for an unreadable capture or one where no process could be judged (all\n"
    "killed), 2 for bad usage.\n"
    "\n";

static const char usage_tail[] =
    "  --json             the JSON verdict on stdout (the text report goes to stderr)\n"
    "  --limit N          leak sites shown in the text report (default 20; 0: all)\n"
    "  --pid PID          judge that process only (default: every process)\n"
    "  -h, --help         this text\n";

#define DEFAULT_LIMIT 20

/* "definitely lost 200 B in 2 blocks" */
static const char *class_amount(unsigned c, memtap_amount_t a, char *buf, size_t cap) {
    char s[64], n[64];
    snprintf(buf, cap, "%s %s in %s block%s", memtap_class_name(c),
             memtap_fmt_size(a.bytes, s, sizeof s), memtap_fmt_count(a.blocks, n, sizeof n),
             a.blocks == 1 ? "" : "s");
    return buf;
}

static void print_leak(FILE *out, const memtap_verdict_t *v, size_t i) {
    const memtap_check_leak_t *l = &v->leaks.v[i];
    const memtap_check_process_t *p = &v->procs.v[l->process];
    char a[160];
    fprintf(out, "\n%s#%zu  ", memtap_red(), i + 1);
    const char *sep = "";
    for (unsigned c = MEMTAP_LC_DEFINITE; c >= MEMTAP_LC_REACHABLE; c--)
        if (l->cls[c].blocks && (l->judged_classes >> c & 1)) {
            fprintf(out, "%s%s", sep, class_amount(c, l->cls[c], a, sizeof a));
            sep = ", ";
        }
    fprintf(out, "%s", memtap_reset());
    sep = " (also ";
    for (unsigned c = MEMTAP_LC_DEFINITE; c >= MEMTAP_LC_REACHABLE; c--)
        if (l->cls[c].blocks && !(l->judged_classes >> c & 1)) {
            fprintf(out, "%s%s", sep, class_amount(c, l->cls[c], a, sizeof a));
            sep = ", ";
        }
    fprintf(out, "%s\n    process %llu: %.100s\n", sep[1] == '(' ? "" : ")",
            (unsigned long long)p->pid, p->command);
    for (size_t k = 0; k < l->nframes; k++) {
        const memtap_check_frame_t *f = &l->frames[k];
        const char *b = f->module ? strrchr(f->module, '/') : NULL;
        fprintf(out, "    %s%s%s", k == l->where ? memtap_bold() : "", f->function,
                memtap_reset());
        if (f->file)
            fprintf(out, "  %s:%u", memtap_short_path(f->file), f->line);
        else if (f->module)
            fprintf(out, "  %s%s%s", memtap_dim(), b ? b + 1 : f->module, memtap_reset());
        fputs(f->python ? " [py]\n" : f->inlined ? " (inlined)\n" : "\n", out);
    }
}

/* The report: the leak sites that count (up to limit), the totals, the verdict. */
static void print_verdict(FILE *out, const memtap_verdict_t *v, size_t limit) {
    char a[160];
    for (size_t i = 0; i < v->procs.n; i++)
        if (v->procs.v[i].note)
            fprintf(out, "memtap check: process %llu (%.60s): %s\n",
                    (unsigned long long)v->procs.v[i].pid, v->procs.v[i].command,
                    v->procs.v[i].note);
    size_t shown = limit && limit < v->leaks.n ? limit : v->leaks.n;
    if (v->leaks.n)
        fprintf(out, "%smemtap check: %zu leak site%s%s\n", memtap_bold(), v->leaks.n,
                v->leaks.n == 1 ? "" : "s", memtap_reset());
    for (size_t i = 0; i < shown; i++)
        print_leak(out, v, i);
    if (shown < v->leaks.n)
        fprintf(out, "\n... %zu more leak site%s (--limit 0 shows all)\n", v->leaks.n - shown,
                v->leaks.n - shown == 1 ? "" : "s");
    fprintf(out, "%s", v->leaks.n ? "\n" : "");
    size_t judged = 0;
    for (size_t i = 0; i < v->procs.n; i++)
        judged += v->procs.v[i].judged;
    fprintf(out, "memtap check: %zu process%s judged:", judged, judged == 1 ? "" : "es");
    for (unsigned c = MEMTAP_LC_DEFINITE; c >= MEMTAP_LC_REACHABLE; c--)
        fprintf(out, "%s %s", c == MEMTAP_LC_DEFINITE ? "" : ",",
                class_amount(c, v->cls[c], a, sizeof a));
    char s[64], n[64];
    fprintf(out, "; suppressed %s in %s block%s\n", memtap_fmt_size(v->suppressed.bytes, s, sizeof s),
            memtap_fmt_count(v->suppressed.blocks, n, sizeof n),
            v->suppressed.blocks == 1 ? "" : "s");
    const char *what = v->opts.classes >> MEMTAP_LC_REACHABLE & 1 ? "lost or reachable"
                       : v->opts.classes >> MEMTAP_LC_POSSIBLE & 1 ? "definitely, indirectly or possibly lost"
                                                                   : "definitely or indirectly lost";
    memtap_fmt_size(v->judged.bytes, s, sizeof s);
    if (!judged)
        fprintf(out, "%smemtap check: no process could be judged (see above): nothing to pass "
                     "or fail%s\n", memtap_red(), memtap_reset());
    else if (v->passed)
        fprintf(out, "memtap check: passed (%s %s: %s, at most %llu bytes allowed)\n", what,
                v->judged.blocks == 1 ? "block" : "blocks", v->judged.blocks ? s : "none",
                (unsigned long long)v->opts.max_bytes);
    else
        fprintf(out, "%smemtap check: FAILED: %s in %s block%s %s (more than %llu bytes allowed)%s\n",
                memtap_red(), s, memtap_fmt_count(v->judged.blocks, n, sizeof n),
                v->judged.blocks == 1 ? "" : "s", what, (unsigned long long)v->opts.max_bytes,
                memtap_reset());
}

static int has_judged(const memtap_verdict_t *v) {
    for (size_t i = 0; i < v->procs.n; i++)
        if (v->procs.v[i].judged)
            return 1;
    return 0;
}

/* Judges process i of cap into v. Returns 0, or -1 when out of memory. */
static int judge(memtap_verdict_t *v, const memtap_report_capture_t *cap, uint32_t i,
                 const memtap_suppressions_t *sup) {
    const memtap_process_t *p = &cap->c->processes.v[i];
    const char *state = memtap_process_state(cap->c, i);
    char why[600];
    if (state[0]) {
        snprintf(why, sizeof why, "%s: not judged (what it held when it stopped is not a leak)",
                 state);
        return memtap_verdict_skip(v, p->pid, p->ppid, p->command, why);
    }
    memtap_replay_t r;
    char err[512];
    if (memtap_report_replay(cap, i, &r, 1, 1, err, sizeof err) != MEMTAP_OK) {
        snprintf(why, sizeof why, "not judged: %s", err);
        return memtap_verdict_skip(v, p->pid, p->ppid, p->command, why);
    }
    memtap_symbolizer_t *sym = memtap_symbolizer_new(&r);
    const memtap_image_t *last = r.images.n ? &r.images.v[r.images.n - 1] : NULL;
    const char *command = last && last->cmdline[0] ? last->cmdline : p->command;
    int rc = sym ? memtap_verdict_add(v, &r, sym, sup, p->pid, p->ppid, command) : -1;
    memtap_symbolizer_free(sym);
    memtap_replay_free(&r);
    return rc;
}

/* The processes to judge, in tree order (o->pid: that one), into v. */
static int judge_all(memtap_verdict_t *v, const memtap_report_capture_t *cap,
                     const memtap_check_opts_t *o, const memtap_suppressions_t *sup) {
    if (o->pid >= 0)
        return judge(v, cap, cap->process, sup);
    size_t n = cap->c->processes.n;
    uint32_t *order = malloc((n ? n : 1) * sizeof *order);
    if (!order || memtap_process_order(cap->c, order) < 0) {
        free(order);
        return -1;
    }
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++)
        rc = judge(v, cap, order[k], sup);
    free(order);
    return rc;
}

/* The suppressions o asks for, or NULL after an error line (*status set). */
static memtap_suppressions_t *suppressions(const memtap_check_opts_t *o, int *status) {
    memtap_suppressions_t *sup = memtap_suppressions_new(!o->no_default);
    char err[512];
    *status = MEMTAP_EXIT_BAD_INPUT;
    if (!sup) {
        fprintf(stderr, "memtap: out of memory\n");
        return NULL;
    }
    for (size_t i = 0; i < o->nsupp; i++)
        if (memtap_suppressions_load(sup, o->supp[i], err, sizeof err) < 0) {
            fprintf(stderr, "memtap: --suppressions %s\n", err);
            memtap_suppressions_free(sup);
            *status = MEMTAP_EXIT_USAGE;
            return NULL;
        }
    return sup;
}

int memtap_check_capture(const char *path, const memtap_check_opts_t *o, FILE *out, int *passed) {
    *passed = 0;
    int status;
    memtap_suppressions_t *sup = suppressions(o, &status);
    if (!sup)
        return status;
    memtap_report_capture_t cap;
    status = memtap_report_open(&cap, path, o->pid);
    if (status != MEMTAP_EXIT_OK) {
        memtap_suppressions_free(sup);
        return status;
    }
    memtap_verdict_t v;
    memtap_verdict_init(&v, o);
    if (judge_all(&v, &cap, o, sup) < 0) {
        fprintf(stderr, "memtap: out of memory\n");
        status = MEMTAP_EXIT_BAD_INPUT;
    } else {
        memtap_verdict_finish(&v);
        *passed = v.passed;
        if (!has_judged(&v))
            status = MEMTAP_EXIT_BAD_INPUT; /* docs/ci.md: exit 1, or the program's status */
        if (out)
            print_verdict(out, &v, o->limit >= 0 ? (size_t)o->limit : DEFAULT_LIMIT);
        if (o->json_path && memtap_verdict_json(&v, o->json_path) < 0) {
            fprintf(stderr, "memtap: cannot write %s: %s\n", o->json_path, strerror(errno));
            status = MEMTAP_EXIT_BAD_INPUT;
        }
        if (o->junit_path && memtap_verdict_junit(&v, o->junit_path) < 0) {
            fprintf(stderr, "memtap: cannot write %s: %s\n", o->junit_path, strerror(errno));
            status = MEMTAP_EXIT_BAD_INPUT;
        }
    }
    memtap_verdict_free(&v);
    memtap_report_close(&cap);
    memtap_suppressions_free(sup);
    return status;
}

int memtap_cmd_check(int argc, char **argv) {
    static const struct option longopts[] = {
        MEMTAP_CHECK_LONGOPTS,
        {"json", no_argument, NULL, 'j'},
        {"limit", required_argument, NULL, 'n'},
        {"pid", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memtap_check_opts_t o;
    memtap_check_opts_init(&o);
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        int k = memtap_check_option(&o, c, optarg, "check");
        if (k < 0)
            return MEMTAP_EXIT_USAGE;
        if (k > 0)
            continue;
        char *end;
        switch (c) {
        case 'j':
            json = 1;
            break;
        case 'n':
        case 'P': {
            errno = 0;
            long long v = strtoll(optarg, &end, 10);
            if (errno || *end || end == optarg || v < (c == 'P')) {
                fprintf(stderr, "memtap check: %s takes a whole number, not '%s'\n",
                        c == 'P' ? "--pid" : "--limit", optarg);
                return MEMTAP_EXIT_USAGE;
            }
            if (c == 'P')
                o.pid = v;
            else
                o.limit = v;
            break;
        }
        case 'h':
            fputs(usage_head, stdout);
            fputs(memtap_check_usage, stdout);
            fputs(usage_tail, stdout);
            return MEMTAP_EXIT_OK;
        case ':':
            fprintf(stderr, "memtap check: option '%s' needs a value (see memtap check --help)\n",
                    argv[optind - 1]);
            return MEMTAP_EXIT_USAGE;
        default:
            fprintf(stderr, "memtap check: unknown option '%s' (see memtap check --help)\n",
                    argv[optind - 1]);
            return MEMTAP_EXIT_USAGE;
        }
    }
    int usage_rc = memtap_one_capture_arg("check", argc, optind);
    if (usage_rc >= 0)
        return usage_rc;
    if (json && !o.json_path)
        o.json_path = "-";
    int passed;
    int rc = memtap_check_capture(argv[optind], &o, json ? stderr : stdout, &passed);
    if (rc != MEMTAP_EXIT_OK)
        return rc;
    return passed ? MEMTAP_EXIT_OK : o.exit_code;
}
