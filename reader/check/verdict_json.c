/* The leak check's verdict as JSON (memtap run --check-json, memtap check --json). Sizes
 * are exact byte counts. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "check/verdict.h"

static json_t *amount(memtap_amount_t a) {
    return json_pack("{sIsI}", "bytes", (json_int_t)a.bytes, "blocks", (json_int_t)a.blocks);
}

/* "definitely_lost": {...}, ... "still_reachable": {...}, "suppressed": {...} into o. */
static void set_classes(json_t *o, const memtap_amount_t *cls, memtap_amount_t suppressed) {
    for (unsigned c = MEMTAP_LC_DEFINITE; c >= MEMTAP_LC_REACHABLE; c--)
        json_object_set_new(o, memtap_class_key(c), amount(cls[c]));
    json_object_set_new(o, "suppressed", amount(suppressed));
}

static json_t *str_or_null(const char *s) {
    return s ? json_string(s) : json_null();
}

static json_t *frame_json(const memtap_check_frame_t *f) {
    json_t *o = json_object();
    json_object_set_new(o, "function", json_string(f->function));
    json_object_set_new(o, "file", str_or_null(f->file));
    json_object_set_new(o, "line", f->line ? json_integer(f->line) : json_null());
    if (f->python)
        json_object_set_new(o, "python", json_true());
    else
        json_object_set_new(o, "module", str_or_null(f->module));
    if (f->inlined)
        json_object_set_new(o, "inlined", json_true());
    return o;
}

static json_t *leak_json(const memtap_verdict_t *v, const memtap_check_leak_t *l) {
    const memtap_check_process_t *p = &v->procs.v[l->process];
    json_t *o = json_object();
    json_object_set_new(o, "pid", json_integer((json_int_t)p->pid));
    json_object_set_new(o, "command", json_string(p->command));
    json_object_set_new(o, "bytes", json_integer((json_int_t)l->judged.bytes));
    json_object_set_new(o, "blocks", json_integer((json_int_t)l->judged.blocks));
    json_t *classes = json_array();
    for (unsigned c = MEMTAP_LC_DEFINITE; c >= MEMTAP_LC_REACHABLE; c--)
        if (l->cls[c].blocks && (l->judged_classes >> c & 1))
            json_array_append_new(classes, json_string(memtap_class_word(c)));
    json_object_set_new(o, "classes", classes);
    set_classes(o, l->cls, (memtap_amount_t){0, 0});
    json_object_del(o, "suppressed");
    const memtap_check_frame_t *w = l->nframes ? &l->frames[l->where] : NULL;
    json_object_set_new(o, "function", w ? json_string(w->function) : json_null());
    json_object_set_new(o, "file", w ? str_or_null(w->file) : json_null());
    json_object_set_new(o, "line", w && w->line ? json_integer(w->line) : json_null());
    json_t *stack = json_array();
    for (size_t i = 0; i < l->nframes; i++)
        json_array_append_new(stack, frame_json(&l->frames[i]));
    json_object_set_new(o, "stack", stack);
    return o;
}

static json_t *process_json(const memtap_verdict_t *v, const memtap_check_process_t *p) {
    json_t *o = json_object();
    json_object_set_new(o, "pid", json_integer((json_int_t)p->pid));
    json_object_set_new(o, "ppid", json_integer((json_int_t)p->ppid));
    json_object_set_new(o, "command", json_string(p->command));
    json_object_set_new(o, "judged", json_boolean(p->judged));
    json_object_set_new(o, "leak_classes", json_boolean(p->judged && p->classes));
    json_object_set_new(o, "leaked", json_boolean(p->judged_amount.blocks > 0));
    if (p->note)
        json_object_set_new(o, "note", json_string(p->note));
    set_classes(o, p->cls, p->suppressed);
    (void)v;
    return o;
}

int memtap_verdict_json(const memtap_verdict_t *v, const char *path) {
    json_t *o = json_object();
    json_object_set_new(o, "passed", json_boolean(v->passed));
    const char *level = v->opts.classes >> MEMTAP_LC_REACHABLE & 1  ? "reachable"
                        : v->opts.classes >> MEMTAP_LC_POSSIBLE & 1 ? "possible"
                                                                    : "lost";
    json_object_set_new(o, "check", json_string(level));
    json_object_set_new(o, "max_leak_bytes", json_integer((json_int_t)v->opts.max_bytes));
    json_object_set_new(o, "judged", amount(v->judged));
    set_classes(o, v->cls, v->suppressed);
    json_t *procs = json_array(), *leaks = json_array();
    for (size_t i = 0; i < v->procs.n; i++)
        json_array_append_new(procs, process_json(v, &v->procs.v[i]));
    for (size_t i = 0; i < v->leaks.n; i++)
        json_array_append_new(leaks, leak_json(v, &v->leaks.v[i]));
    json_object_set_new(o, "processes", procs);
    json_object_set_new(o, "leaks", leaks);
    FILE *f = strcmp(path, "-") ? fopen(path, "w") : stdout;
    int rc = -1;
    if (f) {
        rc = json_dumpf(o, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', f);
        if (f != stdout && fclose(f) != 0)
            rc = -1;
        else if (f == stdout && fflush(f) != 0)
            rc = -1;
    }
    json_decref(o);
    return rc;
}
