/* Merging Python frames into native stacks.
 *
 * The writer records a stack as the thread's Python frames (innermost first) followed by
 * its native frames (innermost first): the native part, which changes least, sits at the
 * root of the stack trie. Each Python frame is flagged when a new run of
 * _PyEval_EvalFrameDefault started it (a C function called into Python). Each such run is
 * one native frame of the interpreter loop, so going outwards, the k-th native loop frame
 * ran the k-th group of Python frames: the frames up to and including the k-th flagged
 * one. Groups left over (a native stack cut at its depth limit) follow the native frames.
 * The merge only needs each kind of frame in chain order, wherever they sit in the chain. */
#include "symbolize/stack_view.h"

#include "common/vec.h"

#include <stdlib.h>
#include <string.h>

static int put(memtap_stack_view_t *v, const memtap_frame_t *f) {
    if (VEC_RESERVE(*v, 1) < 0)
        return -1;
    v->v[v->n++] = *f;
    return 0;
}

static int is_eval_loop(const memtap_frame_t *f) {
    static const char name[] = "_PyEval_EvalFrameDefault";
    return f->known && !strncmp(f->function, name, sizeof name - 1);
}

typedef MEMTAP_VEC(uint32_t) ids_t;

static int push_id(ids_t *a, uint32_t id) {
    if (VEC_RESERVE(*a, 1) < 0)
        return -1;
    a->v[a->n++] = id;
    return 0;
}

/* Puts the Python frames of the next group, py->v[*at...]; moves *at past them. */
static int put_group(memtap_symbolizer_t *sym, const memtap_replay_t *r, const ids_t *py,
                     size_t *at, memtap_stack_view_t *v) {
    while (*at < py->n) {
        uint32_t node = py->v[(*at)++];
        const memtap_frame_t *f;
        memtap_symbolize_node(sym, node, &f);
        if (put(v, f) < 0)
            return -1;
        if (r->nodes.v[node].frame & MEMTAP_PY_ENTRY_BIT)
            break;
    }
    return 0;
}

int memtap_stack_view(memtap_symbolizer_t *sym, const memtap_replay_t *r, uint32_t node,
                      int python_only, memtap_stack_view_t *v) {
    static ids_t py, native; /* reused between calls */
    v->n = py.n = native.n = 0;
    for (; node; node = r->nodes.v[node].parent)
        if (push_id(memtap_is_py_frame(r->nodes.v[node].frame) ? &py : &native, node) < 0)
            return -1;
    size_t at = 0;
    if (!(python_only && py.n)) {
        for (size_t k = 0; k < native.n; k++) {
            const memtap_frame_t *f;
            size_t n = memtap_symbolize_node(sym, native.v[k], &f);
            if (at < py.n && is_eval_loop(&f[n - 1])) {
                if (put_group(sym, r, &py, &at, v) < 0)
                    return -1;
                continue;
            }
            for (size_t i = 0; i < n; i++)
                if (put(v, &f[i]) < 0)
                    return -1;
        }
    }
    while (at < py.n)
        if (put_group(sym, r, &py, &at, v) < 0)
            return -1;
    return 0;
}

void memtap_stack_view_free(memtap_stack_view_t *v) {
    free(v->v);
    v->v = NULL;
    v->n = v->cap = 0;
}
