/* The calling thread's Python frames, read at an allocation: its thread state (the one
 * CPython binds to the thread, PyGILState_GetThisThreadState; from 3.12 on the binding
 * follows the thread state the thread last ran, a sub-interpreter's too), the chain of
 * frames from it, each frame's code object and instruction. Only the thread itself changes
 * its chain, and its frames keep their code objects alive, so the walk needs neither the GIL
 * nor a lock. A frame's value (code id and line) is looked up per thread by its (code,
 * instruction) pair; only a pair not seen before costs a code id lookup and a
 * PyCode_Addr2Line. */
#include "python/pystack.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "python/pycode.h"
#include "python/pylayout.h"
#include "python/python_api.h"
#include "stack/memo.h"

#define CODE_CACHE 256
#define FRAME_SET_BITS 11                    /* sets of two (code, instruction) pairs */
#define MAX_STEPS (4 * MEMTAP_PY_MAX_FRAMES) /* frames looked at, C-stack ones included */

typedef struct {
    const char *code;
    uintptr_t instr; /* instruction pointer (3.11+), f_lasti (3.9, 3.10) */
    uint64_t value;  /* memtap_py_frame(id, line, 0) */
} cached_t;

typedef struct {
    uint32_t epoch; /* memtap_pycode_epoch() when the caches were filled */
    int lossy;      /* the last walk left a frame out for want of memory */
    struct {
        const char *code;
        uint32_t id;
    } codes[CODE_CACHE];
    /* two ways a set, the last used first: two hot frames whose pairs fall in one set do
     * not evict each other (each eviction costs a PyCode_Addr2Line) */
    cached_t frames[1u << FRAME_SET_BITS][2];
} pythread_t;

static const memtap_py_layout_t *layout; /* NULL: frames are not read */
static int layout_index;                 /* layout's in memtap_py_layouts */
static int others_stopped;
static __thread pythread_t *tls_thread __attribute__((tls_model("initial-exec")));
static __thread const char *tls_top __attribute__((tls_model("initial-exec")));
static __thread int tls_finalizing __attribute__((tls_model("initial-exec")));

static inline const char *ptr_at(const char *base, unsigned offset) {
    const char *p;
    memcpy(&p, base + offset, sizeof p);
    return p;
}

int memtap_pystack_start(const char *version) {
    if (strncmp(version, "3.", 2) || strstr(version, "free-threading"))
        return -1;
    long minor = strtol(version + 2, NULL, 10);
    for (int i = 0; i < MEMTAP_PY_LAYOUTS; i++) {
        if (memtap_py_layouts[i].minor == minor) {
            memtap_pycode_init(&memtap_py_layouts[i]);
            layout_index = i;
            __atomic_store_n(&layout, &memtap_py_layouts[i], __ATOMIC_RELEASE);
            return 0;
        }
    }
    return -1;
}

void memtap_pystack_stop_others(void) {
    tls_finalizing = 1;
    __atomic_store_n(&others_stopped, 1, __ATOMIC_RELAXED);
}

static pythread_t *thread_state(void) {
    pythread_t *t = tls_thread;
    if (!t) {
        void *p = mmap(NULL, sizeof *t, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        tls_thread = t = p;
        t->epoch = memtap_pycode_epoch();
    }
    return t;
}

/* The thread's innermost frame, or NULL when it runs no Python. */
static const char *current_frame(const memtap_py_layout_t *l) {
    if (__atomic_load_n(&others_stopped, __ATOMIC_RELAXED) && !tls_finalizing)
        return NULL;
    const char *ts = py.PyGILState_GetThisThreadState();
    const char *f = ts ? ptr_at(ts, l->ts_frame) : NULL;
    if (f && l->cframe_current >= 0)
        f = ptr_at(f, (unsigned)l->cframe_current);
    return f;
}

int memtap_pystack_depth(void) {
    const memtap_py_layout_t *l = __atomic_load_n(&layout, __ATOMIC_ACQUIRE);
    tls_top = l ? current_frame(l) : NULL;
    return tls_top != NULL;
}

static uint32_t code_id(pythread_t *t, const char *code) {
    size_t i = (size_t)(((uintptr_t)code >> 4) * 0x9e3779b97f4a7c15ull >> 56) % CODE_CACHE;
    if (t->codes[i].code == code)
        return t->codes[i].id;
    uint32_t id = memtap_pycode_id(code);
    if (id)
        t->codes[i].code = code, t->codes[i].id = id;
    return id;
}

/* A cached frame value for a frame that is not shown: the interpreter's own shim code. */
#define SKIP MEMTAP_PY_FRAME_BIT /* code id 0: no frame has it */

/* The frame value of (code, instr), without the entry bit; 0 when memtap is out of memory. */
static __attribute__((noinline)) uint64_t frame_value(pythread_t *t, const memtap_py_layout_t *l,
                                                      const char *code, uintptr_t instr) {
    uint32_t flags;
    memcpy(&flags, code + l->co_flags, sizeof flags);
    /* a shim's code gets an id too, never shown: its free then moves the epoch, so that a
     * code object taking its address is not taken for it (by the caches and the memo) */
    uint32_t id = code_id(t, code);
    if (!id)
        return 0;
    if (flags & l->co_shim_flag)
        return SKIP;
    int32_t offset = l->style == MEMTAP_PYF_OBJECTS
                         ? (int32_t)(intptr_t)instr * l->lasti_bytes
                         : (int32_t)((intptr_t)instr - (intptr_t)(code + l->co_code));
    int line = py.PyCode_Addr2Line((py_object_t *)code, offset);
    if (line <= 0) /* an instruction of no line (a function's prologue): its first line */
        memcpy(&line, code + l->co_firstlineno, sizeof line);
    uint32_t line_max = (1u << MEMTAP_PY_LINE_BITS) - 1;
    return memtap_py_frame(id,
                           line <= 0                   ? 0
                           : (uint32_t)line < line_max ? (uint32_t)line
                                                       : line_max,
                           0);
}

/* The cache's value of (code, instr) when the set's second way holds it, or the frame
 * named anew; either way the pair is now first in its set. 0 when out of memory. */
static __attribute__((noinline)) uint64_t cache_miss(pythread_t *t, const memtap_py_layout_t *l,
                                                     cached_t *set, const char *code,
                                                     uintptr_t instr) {
    cached_t first = set[0];
    if (set[1].code == code && set[1].instr == instr) {
        set[0] = set[1];
        set[1] = first;
        return set[0].value;
    }
    uint64_t v = frame_value(t, l, code, instr);
    if (v) {
        set[1] = first;
        set[0] = (cached_t){code, instr, v};
    }
    return v;
}

/* What the walks read of frame f: FRAME_CSTACK for a frame a run of the interpreter loop
 * pushed on the C stack (3.12+), FRAME_OTHER for one whose code is not a code object, else
 * FRAME_CODE with its code object, where it is (*instr) and its entry bit. */
enum { FRAME_CODE, FRAME_CSTACK, FRAME_OTHER };
static inline __attribute__((always_inline)) int read_frame(const memtap_py_layout_t *l,
                                                            const char *f, const char **code,
                                                            uintptr_t *instr, uint64_t *entry) {
    if (l->fr_owner >= 0 && f[l->fr_owner] == l->owner_cstack)
        return FRAME_CSTACK;
    const char *c = ptr_at(f, l->fr_code);
    if (!c || ptr_at(c, 8) != py.code_type) /* ob_type: not a code object */
        return FRAME_OTHER;
    *code = c;
    if (l->style == MEMTAP_PYF_OBJECTS) {
        int lasti;
        memcpy(&lasti, f + l->fr_instr, sizeof lasti);
        *instr = (uintptr_t)(intptr_t)lasti;
        *entry = MEMTAP_PY_ENTRY_BIT; /* every frame is a run of its own */
    } else {
        *instr = (uintptr_t)ptr_at(f, l->fr_instr);
        *entry = l->fr_is_entry >= 0 && f[l->fr_is_entry] ? MEMTAP_PY_ENTRY_BIT : 0;
    }
    return FRAME_CODE;
}

/* fn(layout, ...) for the interpreter's layout: each walk is inlined once per version, so
 * that the layout's offsets are constants. */
_Static_assert(MEMTAP_PY_LAYOUTS == 5, "one case per layout");
#define BY_LAYOUT(fn, ...)                                                                         \
    switch (layout_index) {                                                                        \
    case 0:                                                                                        \
        return fn(&memtap_py_layouts[0], __VA_ARGS__);                                             \
    case 1:                                                                                        \
        return fn(&memtap_py_layouts[1], __VA_ARGS__);                                             \
    case 2:                                                                                        \
        return fn(&memtap_py_layouts[2], __VA_ARGS__);                                             \
    case 3:                                                                                        \
        return fn(&memtap_py_layouts[3], __VA_ARGS__);                                             \
    default:                                                                                       \
        return fn(&memtap_py_layouts[4], __VA_ARGS__);                                             \
    }

/* The walk from frame f outwards: each Python frame's value from the thread's cache of
 * (code, instruction) pairs, its entry bit from the frame. */
static inline __attribute__((always_inline)) int walk(const memtap_py_layout_t *l, pythread_t *t,
                                                      const char *f, uint64_t *out, int room) {
    int n = 0;
    for (int step = 0; f && n < room && step < MAX_STEPS; step++) {
        const char *up = ptr_at(f, l->fr_previous), *code = NULL;
        uintptr_t instr = 0;
        uint64_t entry = 0;
        int kind = read_frame(l, f, &code, &instr, &entry);
        f = up;
        if (kind == FRAME_CSTACK) {
            if (n) /* 3.12+: a run of the loop pushed this frame below its first one */
                out[n - 1] |= MEMTAP_PY_ENTRY_BIT;
            continue;
        }
        if (kind == FRAME_OTHER)
            continue;
        cached_t *set = t->frames[(instr ^ (uintptr_t)code << 9) * 0x9e3779b97f4a7c15ull >>
                                  (64 - FRAME_SET_BITS)];
        uint64_t v = set[0].instr == instr && set[0].code == code
                         ? set[0].value
                         : cache_miss(t, l, set, code, instr);
        if (v && v != SKIP)
            out[n++] = v | entry;
        else if (!v)
            t->lossy = 1;
    }
    return n;
}

/* The raw key of the chain from frame f outwards (pystack.h): per frame its code object and
 * its instruction with the entry bit, or (0, 1) for a frame of the C stack. -1 for a chain
 * longer than cap / 2 frames or holding a frame without a code object (such an object may
 * die and its address come back as a code object's: no epoch would tell). */
static inline __attribute__((always_inline)) int raw_key(const memtap_py_layout_t *l,
                                                         const char *f, uint64_t *key, int cap,
                                                         uint64_t *hash) {
    uint64_t h = *hash;
    int n = 0;
    for (; f; n += 2, f = ptr_at(f, l->fr_previous)) {
        if (n + 2 > cap)
            return -1;
        const char *code = NULL;
        uintptr_t instr = 0;
        uint64_t entry = 0;
        int kind = read_frame(l, f, &code, &instr, &entry);
        if (kind == FRAME_OTHER)
            return -1;
        key[n] = (uint64_t)(uintptr_t)code; /* NULL for a frame of the C stack */
        key[n + 1] = kind == FRAME_CSTACK ? 1 : (uint64_t)instr << 1 | (entry != 0);
        h = memtap_memo_mix(h, key[n] ^ key[n + 1] << 17);
    }
    *hash = h;
    return n;
}

int memtap_pystack_key(uint64_t *key, int cap, uint64_t *hash, uint32_t *epoch) {
    const char *f = tls_top;
    if (!f)
        return -1;
    *epoch = memtap_pycode_epoch();
    BY_LAYOUT(raw_key, f, key, cap, hash)
}

void memtap_pystack_skip(void) { tls_top = NULL; }

int memtap_pystack_was_whole(void) { return tls_thread && !tls_thread->lossy; }

int memtap_pystack_frames(uint64_t *out, int room) {
    const char *f = tls_top;
    tls_top = NULL;
    pythread_t *t = f ? thread_state() : NULL;
    if (!t)
        return 0;
    uint32_t epoch = memtap_pycode_epoch();
    t->lossy = 0;
    if (t->epoch != epoch) { /* a code object was freed: any address may be another's */
        memset(t->codes, 0, sizeof t->codes);
        memset(t->frames, 0, sizeof t->frames);
        t->epoch = epoch;
    }
    BY_LAYOUT(walk, t, f, out, room)
}

void memtap_pystack_thread_exit(void) {
    pythread_t *t = tls_thread;
    tls_thread = NULL;
    if (t)
        munmap(t, sizeof *t);
}
