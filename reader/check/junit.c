/* The leak check's verdict as JUnit XML (memtap run --junit): CI systems (GitHub, GitLab,
 * Jenkins) show each leak site as a failed test, with its stack as the failure's text. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check/verdict.h"

/* s with XML's five special characters escaped, and control characters (which XML 1.0
 * cannot hold, even escaped) as '?'. */
static void xml(FILE *f, const char *s) {
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default: fputc(c < 0x20 && c != '\n' && c != '\t' ? '?' : c, f);
        }
    }
}

/* "function (file:line)" or "function" of the leak's naming frame. */
static void site_name(FILE *f, const memtap_check_leak_t *l) {
    if (!l->nframes) {
        fputs("(no stack)", f);
        return;
    }
    const memtap_check_frame_t *w = &l->frames[l->where];
    xml(f, w->function);
    if (w->file) {
        const char *b = strrchr(w->file, '/');
        fputs(" (", f);
        xml(f, b ? b + 1 : w->file);
        fprintf(f, ":%u)", w->line);
    }
}

/* "definitely lost 100 bytes in 1 block, indirectly lost ..." of the judged classes. */
static void classes_text(FILE *f, const memtap_check_leak_t *l) {
    const char *sep = "";
    for (unsigned c = MEMTAP_LC_DEFINITE; c >= MEMTAP_LC_REACHABLE; c--) {
        if (!l->cls[c].blocks || !(l->judged_classes >> c & 1))
            continue;
        fprintf(f, "%s%s %llu bytes in %llu block%s", sep, memtap_class_name(c),
                (unsigned long long)l->cls[c].bytes, (unsigned long long)l->cls[c].blocks,
                l->cls[c].blocks == 1 ? "" : "s");
        sep = ", ";
    }
}

static void leak_case(FILE *f, const memtap_verdict_t *v, const memtap_check_leak_t *l) {
    const memtap_check_process_t *p = &v->procs.v[l->process];
    fputs("    <testcase classname=\"memtap.leaks\" name=\"", f);
    site_name(f, l);
    fprintf(f, " [pid %llu]\">\n      <failure type=\"leak\" message=\"",
            (unsigned long long)p->pid);
    classes_text(f, l);
    fputs(" at ", f);
    site_name(f, l);
    fputs("\">", f);
    classes_text(f, l);
    fprintf(f, "\nprocess %llu: ", (unsigned long long)p->pid);
    xml(f, p->command);
    fputc('\n', f);
    for (size_t i = 0; i < l->nframes; i++) {
        const memtap_check_frame_t *fr = &l->frames[i];
        fputs("    ", f);
        xml(f, fr->function);
        if (fr->file) {
            fputs("  ", f);
            xml(f, fr->file);
            fprintf(f, ":%u", fr->line);
        } else if (fr->module) {
            fputs("  ", f);
            xml(f, fr->module);
        }
        fputs(fr->python ? " [py]\n" : fr->inlined ? " (inlined)\n" : "\n", f);
    }
    fputs("</failure>\n    </testcase>\n", f);
}

int memtap_verdict_junit(const memtap_verdict_t *v, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    size_t failures = v->passed ? 0 : v->leaks.n;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<testsuites name=\"memtap\" tests=\"%zu\" failures=\"%zu\">\n"
               "  <testsuite name=\"memtap leak check\" tests=\"%zu\" failures=\"%zu\" "
               "errors=\"0\" skipped=\"0\">\n",
            failures ? failures : 1, failures, failures ? failures : 1, failures);
    if (failures) {
        for (size_t i = 0; i < v->leaks.n; i++)
            leak_case(f, v, &v->leaks.v[i]);
    } else {
        fprintf(f, "    <testcase classname=\"memtap.leaks\" name=\"%s\">\n"
                   "      <system-out>%llu bytes in %llu blocks judged (at most %llu "
                   "allowed), %llu bytes in %llu blocks suppressed, %zu process%s</system-out>\n"
                   "    </testcase>\n",
                v->judged.blocks ? "leaks within --max-leak-bytes" : "no leaks",
                (unsigned long long)v->judged.bytes, (unsigned long long)v->judged.blocks,
                (unsigned long long)v->opts.max_bytes, (unsigned long long)v->suppressed.bytes,
                (unsigned long long)v->suppressed.blocks, v->procs.n,
                v->procs.n == 1 ? "" : "es");
    }
    fputs("  </testsuite>\n</testsuites>\n", f);
    int err = ferror(f);
    if (fclose(f) != 0 || err)
        return -1;
    return 0;
}
