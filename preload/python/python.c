/* Finding CPython and hooking into it without touching the program: an audit hook
 * (PySys_AddAuditHook works before the interpreter starts) sees the first event after
 * Py_Initialize, typically the import of site, with the GIL held on the main thread. There
 * memtap installs its PyMem wrappers and starts reading Python frames at allocations
 * (pystack.c). When the main module starts (cpython.run_* events) it registers an atexit
 * callback that marks the end of the program's main part. */
#include "python/python.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "core/lifecycle.h"
#include "hooks/real.h"
#include "python/pymem.h"
#include "python/pystack.h"
#include "python/python_api.h"

enum { PY_WAITING, PY_INSTALLED, PY_MAIN_STARTED, PY_FINALIZED };
static int phase = PY_WAITING;
static __thread int in_hook __attribute__((tls_model("initial-exec")));

static py_object_t *none_ref(void) {
    py.Py_IncRef(py.none);
    return py.none;
}

static py_object_t *main_done(py_object_t *self, py_object_t *args) {
    (void)self;
    (void)args;
    memtap_guard++;
    memtap_track_main_done();
    memtap_guard--;
    return none_ref();
}

static py_method_def_t main_done_def = {"memtap_main_done", main_done, PY_METH_VARARGS, NULL};

/* module.function(callable), ignoring failure (the program goes on without it) */
static void call_with_callable(const char *module, const char *function, py_method_def_t *def) {
    py_object_t *m = py.PyImport_ImportModule(module);
    py_object_t *f = m ? py.PyCFunction_NewEx(def, NULL, NULL) : NULL;
    py_object_t *r = f ? py.PyObject_CallMethod(m, function, "O", f) : NULL;
    if (!r)
        py.PyErr_Clear();
    py.Py_DecRef(r); /* NULL is nothing (python_api.h) */
    py.Py_DecRef(f);
    py.Py_DecRef(m);
}

static void install(void) {
    memtap_pymem_install();
    const char *version = py.Py_GetVersion();
    if (memtap_pystack_start(version) < 0)
        memtap_log("no Python frames for this interpreter (its layout is unknown)", version, 0);
}

static void main_starts(void) {
    call_with_callable("atexit", "register", &main_done_def);
}

static int audit_hook(const char *event, py_object_t *args, void *data) {
    (void)args;
    (void)data;
    if (in_hook || phase == PY_FINALIZED || !memtap_should_track())
        return 0;
    in_hook = 1;
    memtap_guard++;
    if (phase == PY_WAITING && py.Py_IsInitialized()) {
        install();
        phase = PY_INSTALLED;
    }
    if (phase == PY_INSTALLED && !strncmp(event, "cpython.run_", 12)) {
        main_starts();
        phase = PY_MAIN_STARTED;
    } else if (!strcmp(event, "cpython._PySys_ClearAuditHooks")) {
        phase = PY_FINALIZED; /* the interpreter is nearly gone: no more API calls */
        memtap_pystack_stop_others();
    }
    memtap_guard--;
    in_hook = 0;
    return 0;
}

/* PySys_AddAuditHook allocates its list entry with PyMem_RawMalloc, which is plain malloc
 * this early; under PYTHONMALLOC=debug the interpreter later frees it with the debug
 * allocator, which aborts on a block it did not allocate. The entry is noted here so the
 * RAW wrapper hands it back to libc. */
static py_mem_allocator_t raw_before;
static void *noting_malloc(void *ctx, size_t size) {
    void *p = raw_before.malloc(ctx, size);
    memtap_pymem_note_hook_entry(p);
    return p;
}

/* 3.9 or newer: the versions whose frames memtap reads; older ones are native programs. */
static int recent_enough(const char *v) {
    return !strncmp(v, "3.", 2) && strtol(v + 2, NULL, 10) >= 9;
}

void memtap_python_prepare(void) {
    if (!memtap_py_resolve() || !recent_enough(py.Py_GetVersion()))
        return;
    memtap_pymem_before_start();
    py.PyMem_GetAllocator(PY_MEM_DOMAIN_RAW, &raw_before);
    py_mem_allocator_t noting = raw_before;
    noting.malloc = noting_malloc;
    py.PyMem_SetAllocator(PY_MEM_DOMAIN_RAW, &noting);
    py.PySys_AddAuditHook(audit_hook, NULL);
    py.PyMem_SetAllocator(PY_MEM_DOMAIN_RAW, &raw_before);
}
