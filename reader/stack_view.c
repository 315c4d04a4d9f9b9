/* Merging Python frames into native stacks.
 *
 * The writer records a stack as its native frames (innermost first) followed by the
 * thread's Python frames (innermost first), each Python frame flagged when a new run of
 * _PyEval_EvalFrameDefault started it (a C function called into Python). Each such run is
 * one native frame of the interpreter loop, so going outwards, the k-th native loop frame
 * ran the k-th group of Python frames: the frames up to and including the k-th flagged one.
 * Groups left over (a native stack cut at its depth limit) follow the native frames. */
#include "stack_view.h"

#include <stdlib.h>
#include <string.h>

static int put(memtap_stack_view_t *v, const memtap_frame_t *f) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        memtap_frame_t *p = realloc(v->v, cap * sizeof *p);
        if (!p)
            return -1;
        v->v = p;
        v->cap = cap;
    }
    v->v[v->n++] = *f;
    return 0;
}

static int is_eval_loop(const memtap_frame_t *f) {
    static const char name[] = "_PyEval_EvalFrameDefault";
    return f->known && !strncmp(f->function, name, sizeof name - 1);
}

uint32_t memtap_python_node(const memtap_replay_t *r, uint32_t node) {
    for (; node; node = r->nodes.v[node].parent)
        if (memtap_is_py_frame(r->nodes.v[node].frame))
            return node;
    return 0;
}

/* Puts the Python frames of the next group, starting at node *py; moves *py past them. */
static int put_group(memtap_symbolizer_t *sym, const memtap_replay_t *r, uint32_t *py,
                     memtap_stack_view_t *v) {
    while (*py) {
        const memtap_frame_t *f;
        uint64_t frame = r->nodes.v[*py].frame;
        memtap_symbolize_node(sym, *py, &f);
        if (put(v, f) < 0)
            return -1;
        *py = r->nodes.v[*py].parent;
        if (frame & MEMTAP_PY_ENTRY_BIT)
            break;
    }
    return 0;
}

int memtap_stack_view(memtap_symbolizer_t *sym, const memtap_replay_t *r, uint32_t node,
                      int python_only, memtap_stack_view_t *v) {
    v->n = 0;
    uint32_t py = memtap_python_node(r, node);
    int has_python = py != 0;
    if (python_only && has_python) { /* no need to look at the native frames at all */
        while (py)
            if (put_group(sym, r, &py, v) < 0)
                return -1;
        return 0;
    }
    for (; node && !memtap_is_py_frame(r->nodes.v[node].frame); node = r->nodes.v[node].parent) {
        const memtap_frame_t *f;
        size_t n = memtap_symbolize_node(sym, node, &f);
        if (py && is_eval_loop(&f[n - 1])) {
            if (put_group(sym, r, &py, v) < 0)
                return -1;
            continue;
        }
        for (size_t i = 0; i < n; i++)
            if (put(v, &f[i]) < 0)
                return -1;
    }
    while (py)
        if (put_group(sym, r, &py, v) < 0)
            return -1;
    return 0;
}

void memtap_stack_view_free(memtap_stack_view_t *v) {
    free(v->v);
    v->v = NULL;
    v->n = v->cap = 0;
}
