/* The leak check's verdict (verdict.h): options, judging each process, the decision. */
#include "check/verdict.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "symbolize/stack_view.h"

const char memtap_check_usage[] =
    "  --check[=WHAT]     judge the blocks never freed (memtap run: after the program\n"
    "                     ends); WHAT: lost (default: definitely and indirectly lost\n"
    "                     bytes fail), possible (possibly lost too), reachable (all)\n"
    "  --check-exit-code N  exit status when leaks fail the check (default 23)\n"
    "  --max-leak-bytes N fail only when more than N bytes count (default 0)\n"
    "  --suppressions FILE  leak:PATTERN lines (glob on function, file or module names\n"
    "                     of a stack; # comments); may be given several times\n"
    "  --no-default-suppressions  judge libc's, ld.so's, libstdc++'s and the Python\n"
    "                     interpreter's own one-time memory too\n"
    "  --check-json FILE  the verdict as JSON\n"
    "  --junit FILE       the verdict as JUnit XML: a failing test case per leak site\n";

void memtap_check_opts_init(memtap_check_opts_t *o) {
    memset(o, 0, sizeof *o);
    o->classes = 1u << MEMTAP_LC_DEFINITE | 1u << MEMTAP_LC_INDIRECT;
    o->exit_code = MEMTAP_CHECK_EXIT_DEFAULT;
    o->pid = -1;
    o->limit = -1;
}

/* A whole number in [lo, hi] from arg, or -1 after an error line. */
static int whole(const char *arg, unsigned long long lo, unsigned long long hi,
                 unsigned long long *out, const char *cmd, const char *opt) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno || *end || end == arg || arg[0] == '-' || v < lo || v > hi) {
        fprintf(stderr, "memtap %s: %s takes a whole number from %llu to %llu, not '%s'\n", cmd,
                opt, lo, hi, arg);
        return -1;
    }
    *out = v;
    return 0;
}

int memtap_check_option(memtap_check_opts_t *o, int c, const char *arg, const char *cmd) {
    unsigned long long v;
    switch (c) {
    case MEMTAP_OPT_CHECK:
        o->classes = 1u << MEMTAP_LC_DEFINITE | 1u << MEMTAP_LC_INDIRECT;
        if (arg && !strcmp(arg, "possible"))
            o->classes |= 1u << MEMTAP_LC_POSSIBLE;
        else if (arg && !strcmp(arg, "reachable"))
            o->classes |= 1u << MEMTAP_LC_POSSIBLE | 1u << MEMTAP_LC_REACHABLE;
        else if (arg && strcmp(arg, "lost")) {
            fprintf(stderr, "memtap %s: --check takes lost, possible or reachable, not '%s'\n",
                    cmd, arg);
            return -1;
        }
        break;
    case MEMTAP_OPT_CHECK_EXIT:
        if (whole(arg, 1, 255, &v, cmd, "--check-exit-code") < 0)
            return -1;
        o->exit_code = (int)v;
        break;
    case MEMTAP_OPT_MAX_LEAK:
        if (whole(arg, 0, UINT64_MAX, &v, cmd, "--max-leak-bytes") < 0)
            return -1;
        o->max_bytes = v;
        break;
    case MEMTAP_OPT_SUPPRESSIONS:
        if (o->nsupp == sizeof o->supp / sizeof o->supp[0]) {
            fprintf(stderr, "memtap %s: at most %zu --suppressions files\n", cmd,
                    sizeof o->supp / sizeof o->supp[0]);
            return -1;
        }
        o->supp[o->nsupp++] = arg;
        break;
    case MEMTAP_OPT_NO_DEFAULT_SUPP:
        o->no_default = 1;
        break;
    case MEMTAP_OPT_CHECK_JSON:
        o->json_path = arg;
        break;
    case MEMTAP_OPT_JUNIT:
        o->junit_path = arg;
        break;
    default:
        return 0;
    }
    o->enabled = 1;
    return 1;
}

void memtap_verdict_init(memtap_verdict_t *v, const memtap_check_opts_t *o) {
    memset(v, 0, sizeof *v);
    v->opts = *o;
}

static void free_frames(memtap_check_frame_t *f, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(f[i].function);
        free(f[i].file);
        free(f[i].module);
    }
    free(f);
}

void memtap_verdict_free(memtap_verdict_t *v) {
    for (size_t i = 0; i < v->procs.n; i++) {
        free(v->procs.v[i].command);
        free(v->procs.v[i].note);
    }
    for (size_t i = 0; i < v->leaks.n; i++)
        free_frames(v->leaks.v[i].frames, v->leaks.v[i].nframes);
    free(v->procs.v);
    free(v->leaks.v);
    memset(v, 0, sizeof *v);
}

static char *dup_or_null(const char *s) {
    return s ? strdup(s) : NULL;
}

/* Copies the frames of view into leak (the replay and symbolizer go before the report). */
static int keep_frames(memtap_check_leak_t *leak, const memtap_stack_view_t *view) {
    leak->frames = calloc(view->n ? view->n : 1, sizeof *leak->frames);
    if (!leak->frames)
        return -1;
    leak->nframes = view->n;
    leak->where = 0;
    int found = 0;
    for (size_t i = 0; i < view->n; i++) {
        const memtap_frame_t *f = &view->v[i];
        memtap_check_frame_t *k = &leak->frames[i];
        k->function = strdup(f->function ? f->function : "??");
        k->file = dup_or_null(f->file);
        k->module = dup_or_null(f->module);
        if (!k->function || (f->file && !k->file) || (f->module && !k->module))
            return -1;
        k->line = f->line;
        k->python = f->python;
        k->inlined = f->inlined;
        if (!found && f->file && f->line) {
            leak->where = i;
            found = 1;
        }
    }
    return 0;
}

static memtap_check_process_t *new_process(memtap_verdict_t *v, uint64_t pid, uint64_t ppid,
                                           const char *command) {
    if (VEC_RESERVE(v->procs, 1) < 0)
        return NULL;
    memtap_check_process_t *p = &v->procs.v[v->procs.n];
    memset(p, 0, sizeof *p);
    p->pid = pid;
    p->ppid = ppid;
    if (!(p->command = strdup(command ? command : "")))
        return NULL;
    v->procs.n++;
    return p;
}

int memtap_verdict_skip(memtap_verdict_t *v, uint64_t pid, uint64_t ppid, const char *command,
                        const char *why) {
    memtap_check_process_t *p = new_process(v, pid, ppid, command);
    return p && (p->note = strdup(why)) ? 0 : -1;
}

/* The classes judged at site sl: the options', and possibly lost for a native library's
 * own block in a Python process (memtap_python_native_block). */
static unsigned judged_classes(const memtap_verdict_t *v, const memtap_site_leak_t *sl) {
    return v->opts.classes | (sl->python_native ? 1u << MEMTAP_LC_POSSIBLE : 0);
}

/* The leaks of sl (r's sites) that count, into v (and the process's judged amount). */
static int add_leaks(memtap_verdict_t *v, uint32_t process, const memtap_replay_t *r,
                     memtap_symbolizer_t *sym, const memtap_site_leak_t *sl) {
    memtap_stack_view_t view = {0};
    int rc = 0;
    for (size_t s = 1; s < r->sites.n && rc == 0; s++) {
        memtap_amount_t judged = {0, 0}, cls[MEMTAP_LC_COUNT];
        for (unsigned c = 0; c < MEMTAP_LC_COUNT; c++) {
            cls[c] = memtap_site_suppressed(&sl[s], c) ? (memtap_amount_t){0, 0} : sl[s].cls[c];
            if (judged_classes(v, &sl[s]) >> c & 1)
                memtap_amount_add(&judged, cls[c]);
        }
        memtap_amount_add(&v->procs.v[process].judged_amount, judged);
        if (!judged.blocks)
            continue;
        if (VEC_RESERVE(v->leaks, 1) < 0 ||
            memtap_stack_view(sym, r, r->sites.v[s].node, 0, &view) < 0) {
            rc = -1;
            break;
        }
        memtap_check_leak_t *leak = &v->leaks.v[v->leaks.n++];
        memset(leak, 0, sizeof *leak);
        leak->process = process;
        memcpy(leak->cls, cls, sizeof leak->cls);
        leak->judged = judged;
        leak->judged_classes = judged_classes(v, &sl[s]);
        rc = keep_frames(leak, &view);
    }
    memtap_stack_view_free(&view);
    return rc;
}

int memtap_verdict_add(memtap_verdict_t *v, const memtap_replay_t *r, memtap_symbolizer_t *sym,
                       const memtap_suppressions_t *sup, uint64_t pid, uint64_t ppid,
                       const char *command) {
    memtap_check_process_t *p = new_process(v, pid, ppid, command);
    memtap_site_leak_t *sl = p ? memtap_site_leaks(r, sym, sup) : NULL;
    if (!sl)
        return -1;
    p->judged = 1;
    p->classes = r->leak_scan == MEMTAP_LEAK_SCAN_DONE || r->live_blocks == 0;
    /* without classes every block never freed counts as definitely lost (docs/ci.md) */
    for (size_t s = 1; s < r->sites.n; s++) {
        memtap_amount_add(&sl[s].cls[MEMTAP_LC_DEFINITE], sl[s].cls[MEMTAP_LC_UNKNOWN]);
        sl[s].cls[MEMTAP_LC_UNKNOWN] = (memtap_amount_t){0, 0};
    }
    if (!p->classes &&
        !(p->note = strdup(r->leak_scan == MEMTAP_LEAK_SCAN_MISMATCH
                               ? "its leak scan does not match its blocks: every block never "
                                 "freed counts as definitely lost"
                               : "no leak classes (no scan at exit): every block never freed "
                                 "counts as definitely lost"))) {
        free(sl);
        return -1;
    }
    memtap_site_leaks_total(sl, r->sites.n, p->cls, &p->suppressed);
    for (unsigned c = 0; c < MEMTAP_LC_COUNT; c++)
        memtap_amount_add(&v->cls[c], p->cls[c]);
    memtap_amount_add(&v->suppressed, p->suppressed);
    uint32_t process = (uint32_t)(v->procs.n - 1);
    int rc = add_leaks(v, process, r, sym, sl);
    memtap_amount_add(&v->judged, v->procs.v[process].judged_amount);
    free(sl);
    return rc;
}

static int by_judged(const void *a, const void *b) {
    const memtap_check_leak_t *x = a, *y = b;
    if (x->judged.bytes != y->judged.bytes)
        return x->judged.bytes < y->judged.bytes ? 1 : -1;
    if (x->judged.blocks != y->judged.blocks)
        return x->judged.blocks < y->judged.blocks ? 1 : -1;
    return x->process < y->process ? -1 : x->process > y->process;
}

void memtap_verdict_finish(memtap_verdict_t *v) {
    if (v->leaks.n)
        qsort(v->leaks.v, v->leaks.n, sizeof *v->leaks.v, by_judged);
    size_t judged = 0;
    for (size_t i = 0; i < v->procs.n; i++)
        judged += v->procs.v[i].judged;
    /* a check that judged no process (all killed) has nothing to pass on */
    v->passed = judged > 0 && v->judged.bytes <= v->opts.max_bytes &&
                !(v->opts.max_bytes == 0 && v->judged.blocks > 0);
}
