/* PyMem domain wrappers: each records under its own allocator kind. */
#include "python/pymem.h"

#include <errno.h>

#include "core/lifecycle.h"
#include "core/track.h"
#include "hooks/real.h"
#include "memtap/format.h"
#include "python/pycode.h"
#include "python/python_api.h"
#include "unwind/fastunwind.h"

typedef struct {
    py_mem_allocator_t old;
    unsigned kind;
} domain_t;

static domain_t domains[3];
static py_arena_allocator_t old_arena;
static void *hook_entry; /* allocated by libc malloc before the interpreter started */

static void *wrap_malloc(void *ctx, size_t size) {
    domain_t *d = ctx;
    if (!memtap_should_track())
        return d->old.malloc(d->old.ctx, size);
    memtap_note_entry(__builtin_frame_address(0));
    memtap_guard = 1;
    void *p = d->old.malloc(d->old.ctx, size);
    if (p) {
        int saved = errno;
        memtap_track_alloc(d->kind, p, size);
        errno = saved;
    }
    memtap_guard = 0;
    memtap_clear_entry();
    return p;
}

static void *wrap_calloc(void *ctx, size_t n, size_t size) {
    domain_t *d = ctx;
    if (!memtap_should_track())
        return d->old.calloc(d->old.ctx, n, size);
    memtap_note_entry(__builtin_frame_address(0));
    memtap_guard = 1;
    void *p = d->old.calloc(d->old.ctx, n, size);
    if (p) {
        int saved = errno;
        memtap_track_alloc(d->kind, p, n * size);
        errno = saved;
    }
    memtap_guard = 0;
    memtap_clear_entry();
    return p;
}

static void *call_old_realloc(void *ctx, void *p, size_t n, size_t size) {
    (void)n;
    domain_t *d = ctx;
    return d->old.realloc(d->old.ctx, p, size);
}

static void *wrap_realloc(void *ctx, void *p, size_t size) {
    domain_t *d = ctx;
    if (!memtap_should_track())
        return d->old.realloc(d->old.ctx, p, size);
    memtap_note_entry(__builtin_frame_address(0));
    memtap_guard = 1;
    void *q = memtap_track_realloc_with(d->kind, p, 1, size, call_old_realloc, d);
    memtap_guard = 0;
    memtap_clear_entry();
    return q;
}

static void wrap_free(void *ctx, void *p) {
    domain_t *d = ctx;
    if (p && p == hook_entry) { /* see memtap_pymem_before_start */
        hook_entry = NULL;
        memtap_real.free(p);
        return;
    }
    if (p && d->kind == MEMTAP_KIND_PYMEM_OBJ)
        memtap_pycode_forget(p); /* a code object's address may hold another one next */
    if (!p || !memtap_should_track()) {
        d->old.free(d->old.ctx, p);
        return;
    }
    int saved = errno;
    memtap_guard = 1;
    memtap_track_free(p);
    d->old.free(d->old.ctx, p);
    memtap_guard = 0;
    errno = saved;
}

static void *arena_alloc(void *ctx, size_t size) {
    (void)ctx;
    memtap_guard++;
    void *p = old_arena.alloc(old_arena.ctx, size);
    memtap_guard--;
    return p;
}

static void arena_free(void *ctx, void *p, size_t size) {
    (void)ctx;
    memtap_guard++;
    old_arena.free(old_arena.ctx, p, size);
    memtap_guard--;
}

void memtap_pymem_before_start(void) {
    py.PyObject_GetArenaAllocator(&old_arena);
    if (!old_arena.alloc || !old_arena.free)
        return;
    py_arena_allocator_t a = {NULL, arena_alloc, arena_free};
    py.PyObject_SetArenaAllocator(&a);
}

void memtap_pymem_note_hook_entry(void *p) {
    hook_entry = p;
}

void memtap_pymem_install(void) {
    static const unsigned kinds[3] = {MEMTAP_KIND_PYMEM_RAW, MEMTAP_KIND_PYMEM_MEM,
                                      MEMTAP_KIND_PYMEM_OBJ};
    for (int dom = 0; dom < 3; dom++) {
        domain_t *d = &domains[dom];
        py.PyMem_GetAllocator(dom, &d->old);
        d->kind = kinds[dom];
        py_mem_allocator_t w = {d, wrap_malloc, wrap_calloc, wrap_realloc, wrap_free};
        py.PyMem_SetAllocator(dom, &w);
    }
}
