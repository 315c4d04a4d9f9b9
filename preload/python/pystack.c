/* Python shadow stacks and code interning. The profile function runs with the GIL held on
 * the thread whose frames it follows; the allocation hooks read only their own thread's
 * shadow stack, so no lock guards it. Frame objects on a shadow stack are alive: the
 * interpreter frame holds its frame object until the RETURN event pops it. */
#include "python/pystack.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "core/lifecycle.h"

/* A frame entered by a new run of the interpreter loop (a C function calling Python) has
 * its profile callback deeper on the C stack than its caller's by at least one
 * _PyEval_EvalFrameDefault frame; frames the loop runs inline call back at the same depth. */
#define ENTRY_MIN_DEPTH 256

#define SHADOW_CAP 2048
#define LINE_CACHE 1024

typedef struct {
    py_object_t *frame, *code;
    uintptr_t sp;
    uint32_t code_id;
    uint32_t line;
    uint8_t line_valid, entry;
} shadow_frame_t;

typedef struct {
    uint32_t code_id;
    int32_t lasti;
    uint32_t line;
} line_entry_t;

typedef struct {
    uint32_t depth, overflow, epoch;
    int following;
    line_entry_t lines[LINE_CACHE];
    shadow_frame_t frames[SHADOW_CAP];
} shadow_t;

static __thread shadow_t *tls_shadow __attribute__((tls_model("initial-exec")));
static unsigned epoch; /* bumped when every thread's shadow stack stops being trusted */
static ssize_t extra_index = -1;

/* --- code table: ids 1..n, chunks never move, strings in a bump arena ----------------- */

#define CHUNK_BITS 12
#define CHUNK_SIZE (1u << CHUNK_BITS)
#define MAX_CHUNKS 4096
#define MAX_NAME 4096

static memtap_py_code_t *chunks[MAX_CHUNKS];
static uint64_t code_count;
static pthread_mutex_t code_lock = PTHREAD_MUTEX_INITIALIZER;
static char *arena_at, *arena_end;

static void *map(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static const char *keep(const char *s, ssize_t len, uint32_t *out_len) {
    if (!s || len < 0)
        s = "?", len = 1;
    if (len > MAX_NAME)
        len = MAX_NAME;
    if (arena_end - arena_at < len + 1) {
        arena_at = map(1 << 20);
        arena_end = arena_at ? arena_at + (1 << 20) : NULL;
        if (!arena_at)
            return NULL;
    }
    char *d = arena_at;
    memcpy(d, s, (size_t)len);
    d[len] = '\0';
    arena_at += len + 1;
    *out_len = (uint32_t)len;
    return d;
}

memtap_py_code_t *memtap_pystack_code(uint64_t id) {
    if (id == 0 || id > __atomic_load_n(&code_count, __ATOMIC_ACQUIRE))
        return NULL;
    return &chunks[(id - 1) >> CHUNK_BITS][(id - 1) & (CHUNK_SIZE - 1)];
}

static const char *utf8_attr(py_object_t *code, const char *name, const char *fallback,
                             ssize_t *len, py_object_t **ref) {
    py_object_t *o = py.PyObject_GetAttrString(code, name);
    if (!o && fallback) {
        py.PyErr_Clear();
        o = py.PyObject_GetAttrString(code, fallback);
    }
    *ref = o;
    const char *s = o ? py.PyUnicode_AsUTF8AndSize(o, len) : NULL;
    if (!s)
        py.PyErr_Clear();
    return s;
}

/* Copies what the reports need from a code object seen for the first time and gives it an
 * id (kept in the code object's extra slot, so a new object at a reused address is new). */
static uint32_t intern_code(py_object_t *code) {
    memtap_guard++;
    ssize_t qlen = 0, flen = 0;
    py_object_t *qref, *fref, *lref;
    const char *q = utf8_attr(code, "co_qualname", "co_name", &qlen, &qref);
    const char *f = utf8_attr(code, "co_filename", NULL, &flen, &fref);
    lref = py.PyObject_GetAttrString(code, "co_firstlineno");
    long first = lref ? py.PyLong_AsLong(lref) : 0;
    if (!lref || first < 0) {
        py.PyErr_Clear();
        first = 0;
    }
    uint32_t id = 0;
    pthread_mutex_lock(&code_lock);
    uint64_t n = code_count;
    size_t c = (size_t)(n >> CHUNK_BITS);
    if (c < MAX_CHUNKS && (chunks[c] || (chunks[c] = map(CHUNK_SIZE * sizeof(memtap_py_code_t))))) {
        memtap_py_code_t *e = &chunks[c][n & (CHUNK_SIZE - 1)];
        e->qualname = keep(q, qlen, &e->qualname_len);
        e->filename = keep(f, flen, &e->filename_len);
        e->firstline = (uint32_t)first;
        e->emitted_image = 0;
        if (e->qualname && e->filename) {
            id = (uint32_t)(n + 1);
            __atomic_store_n(&code_count, n + 1, __ATOMIC_RELEASE);
        }
    }
    pthread_mutex_unlock(&code_lock);
    if (id && py.Code_SetExtra(code, extra_index, (void *)(uintptr_t)id) < 0)
        py.PyErr_Clear();
    py.Py_DecRef(qref); /* NULL is nothing (python_api.h) */
    py.Py_DecRef(fref);
    py.Py_DecRef(lref);
    memtap_guard--;
    return id;
}

static uint32_t code_id_of(py_object_t *code) {
    void *extra = NULL;
    if (py.Code_GetExtra(code, extra_index, &extra) < 0) {
        py.PyErr_Clear();
        return 0;
    }
    return extra ? (uint32_t)(uintptr_t)extra : intern_code(code);
}

int memtap_pystack_init(void) {
    if (extra_index < 0)
        extra_index = py.RequestCodeExtraIndex(NULL);
    return extra_index < 0 ? -1 : 0;
}

/* --- shadow stacks -------------------------------------------------------------------- */

static shadow_t *shadow(void) {
    shadow_t *s = tls_shadow;
    if (!s) {
        s = map(sizeof *s);
        if (!s)
            return NULL;
        memset(s->lines, 0xff, sizeof s->lines); /* code id 0xffffffff: never a real id */
        tls_shadow = s;
    }
    return s;
}

static int trusted(const shadow_t *s) {
    return s && s->following && s->epoch == __atomic_load_n(&epoch, __ATOMIC_RELAXED);
}

void memtap_pystack_follow(void) {
    shadow_t *s = shadow();
    if (!s)
        return;
    s->depth = s->overflow = 0;
    s->epoch = __atomic_load_n(&epoch, __ATOMIC_RELAXED);
    s->following = 1;
}

void memtap_pystack_forget(void) {
    if (tls_shadow)
        tls_shadow->following = 0;
}

void memtap_pystack_forget_all(void) { __atomic_fetch_add(&epoch, 1, __ATOMIC_RELAXED); }

int memtap_pystack_depth(void) {
    const shadow_t *s = tls_shadow;
    return trusted(s) ? (int)s->depth : 0;
}

static void push(shadow_t *s, py_object_t *frame, uintptr_t sp) {
    if (s->depth == SHADOW_CAP || s->overflow) {
        s->overflow++;
        return;
    }
    py_object_t *code = py.PyFrame_GetCode(frame);
    if (!code)
        return;
    py.Py_DecRef(code); /* the frame keeps its code alive */
    uint32_t id = code_id_of(code);
    if (!id)
        return;
    shadow_frame_t *f = &s->frames[s->depth];
    f->frame = frame;
    f->code = code;
    f->code_id = id;
    f->sp = sp;
    f->line_valid = 0;
    f->entry = s->depth == 0 || sp + ENTRY_MIN_DEPTH <= s->frames[s->depth - 1].sp;
    s->depth++;
}

static void pop(shadow_t *s, py_object_t *frame) {
    if (s->overflow) {
        s->overflow--;
        return;
    }
    /* a frame whose CALL we did not see (running before we started) is not ours */
    for (uint32_t i = s->depth; i > 0 && s->depth - i < 8; i--) {
        if (s->frames[i - 1].frame == frame) {
            s->depth = i - 1;
            if (s->depth)
                s->frames[s->depth - 1].line_valid = 0; /* the caller moves on */
            return;
        }
    }
}

int memtap_pystack_profile(py_object_t *obj, py_object_t *frame, int what, py_object_t *arg) {
    (void)obj;
    (void)arg;
    if (what != PY_TRACE_CALL && what != PY_TRACE_RETURN)
        return 0;
    shadow_t *s = tls_shadow;
    if (!trusted(s))
        return 0;
    if (what == PY_TRACE_CALL)
        push(s, frame, (uintptr_t)__builtin_frame_address(0));
    else
        pop(s, frame);
    return 0;
}

static uint32_t line_of(shadow_t *s, const shadow_frame_t *f) {
    if (!py.PyFrame_GetLasti)
        return (uint32_t)py.PyFrame_GetLineNumber(f->frame);
    int lasti = py.PyFrame_GetLasti(f->frame);
    line_entry_t *e = &s->lines[(f->code_id * 2654435761u + (uint32_t)lasti) & (LINE_CACHE - 1)];
    if (e->code_id != f->code_id || e->lasti != lasti) {
        int line = py.PyCode_Addr2Line(f->code, lasti);
        e->code_id = f->code_id;
        e->lasti = lasti;
        e->line = line > 0 ? (uint32_t)line : 0;
    }
    return e->line;
}

int memtap_pystack_frames(uint64_t *out, int room) {
    shadow_t *s = tls_shadow;
    if (!trusted(s) || !s->depth)
        return 0;
    int n = 0;
    for (uint32_t i = s->depth; i > 0 && n < room; i--) {
        shadow_frame_t *f = &s->frames[i - 1];
        int top = i == s->depth;
        if (top || !f->line_valid) {
            f->line = line_of(s, f);
            f->line_valid = !top; /* a caller's line stays until its callee returns */
        }
        uint32_t line_max = (1u << MEMTAP_PY_LINE_BITS) - 1;
        uint64_t line = f->line < line_max ? f->line : line_max;
        out[n++] = memtap_py_frame(f->code_id, (uint32_t)line, f->entry);
    }
    return n;
}

void memtap_pystack_thread_exit(void) {
    shadow_t *s = tls_shadow;
    tls_shadow = NULL;
    if (s)
        munmap(s, sizeof *s);
}
