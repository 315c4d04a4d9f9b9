/* The stack of an allocating call: the native frames (fastunwind.c, or libunwind), the
 * thread's Python frames, and their node in the image's stack trie, whose new nodes
 * are written as NODE and PY_NODE records (source 0). */
#include "stack/callstack.h"

#include <errno.h>

#include "unwind/fastunwind.h"
#include "memtap/format.h"
#include "python/pystack.h"
#include "output/record.h"
#include "stack/memo.h"
#include "stack/stacks.h"
#include "output/stream.h"
#include "core/lifecycle.h"
#include "stack/trie.h"
#include "stack/versions.h"
#include "unwind/unwind.h"

/* The trie and the order of NODE records; a line of its own */
static __attribute__((aligned(64))) memtap_lock_t trie_lock = MEMTAP_LOCK_INIT;
static memtap_trie_t trie; /* (its lock-free fields have a line of their own: trie.h) */
static int max_depth = MEMTAP_DEFAULT_DEPTH;
static int python_only; /* MEMTAP_PYTHON_ONLY: no native unwinding while Python runs */

void memtap_callstack_configure(int depth, int python_frames_only) {
    max_depth = depth > MEMTAP_MAX_DEPTH ? MEMTAP_MAX_DEPTH : depth;
    python_only = python_frames_only;
}

/* A fork child has one thread: the trie's memory may go. After a failed exec other threads
 * may be reading the trie without its lock (memtap_stack_find): it is emptied in place. */
static int one_thread;

int memtap_callstack_begin_image(void) { return trie.chunks ? 0 : memtap_trie_init(&trie); }

void memtap_callstack_end_image(void) {
    if (one_thread)
        memtap_trie_destroy(&trie);
    else if (trie.chunks)
        memtap_trie_clear(&trie);
    one_thread = 0;
}

void memtap_callstack_lock(void) { memtap_lock(&trie_lock); }
void memtap_callstack_unlock(void) { memtap_unlock(&trie_lock); }

void memtap_callstack_after_fork(void) {
    memtap_lock_reset(&trie_lock);
    one_thread = 1;
}

/* Writes a NODE record; called by the interning below with trie_lock held, so node records
 * appear in id order and before any allocation can name them. */
static int emit_node(uint32_t id, uint32_t parent, uint64_t frame) {
    memtap_lock(&memtap_stream_lock);
    int ok = memtap_tracking() && memtap_stream_reserve(MEMTAP_ENC_FIXED_MAX) == 0;
    if (ok && memtap_is_py_frame(frame)) {
        /* the code's name and file go first, once per image */
        uint64_t code = memtap_py_frame_code(frame);
        memtap_py_code_t *c = memtap_pystack_code(code);
        if (c && c->emitted_image != memtap_image_seq) {
            size_t need = MEMTAP_ENC_FIXED_MAX + c->qualname_len + c->filename_len;
            ok = memtap_stream_reserve(need) == 0 &&
                 memtap_enc_py_code(&memtap_stream, code, c->firstline, c->qualname,
                                    c->qualname_len, c->filename, c->filename_len) == 0 &&
                 memtap_stream_reserve(MEMTAP_ENC_FIXED_MAX) == 0;
            c->emitted_image = memtap_image_seq;
        }
        if (ok)
            memtap_enc_py_node(&memtap_stream, id, parent, code, memtap_py_frame_line(frame),
                               (frame & MEMTAP_PY_ENTRY_BIT) != 0);
    } else if (ok) {
        memtap_enc_node(&memtap_stream, id, parent, frame);
    }
    memtap_stream_unlock();
    return ok ? 0 : -1;
}

static __thread int tls_cache_is_last_walk __attribute__((tls_model("initial-exec")));
static __thread int tls_walk_is_native __attribute__((tls_model("initial-exec")));

/* The memo of stacks with Python frames (stack/memo.h): the key of the walk being
 * interned (memo_n words; 0: none, it goes into the memo once interned), or the node and
 * image the memo gave (memtap_stack_of_call returned MEMTAP_STACK_MEMO). */
typedef struct {
    int n;
    uint32_t epoch, leaf, image;
    uint64_t hash;
    uint64_t key[MEMTAP_MEMO_KEY_MAX];
} memo_walk_t;
static __thread memo_walk_t tls_memo __attribute__((tls_model("initial-exec")));

/* The node of the walk just interned, which goes into the memo when it has a key. */
static inline uint32_t interned(uint32_t leaf, uint32_t image) {
    if (__builtin_expect(tls_memo.n, 0)) {
        if (leaf && memtap_pystack_was_whole())
            memtap_memo_store(tls_memo.key, tls_memo.n, tls_memo.hash, image, tls_memo.epoch,
                              leaf);
        tls_memo.n = 0;
    }
    return leaf;
}

uint32_t memtap_callstack_intern(const uint64_t *frames, int n, int known, uint32_t *image) {
    uint32_t leaf;
    if (n == MEMTAP_STACK_MEMO) {
        *image = tls_memo.image;
        return tls_memo.leaf;
    }
    *image = __atomic_load_n(&memtap_image_seq, __ATOMIC_ACQUIRE);
    if (memtap_stack_lookup(*image, frames, n, known, &leaf)) {
        tls_cache_is_last_walk = tls_walk_is_native; /* the cache holds frames */
        return interned(leaf, *image);
    }
    if (memtap_stack_find(&trie, *image, frames, n, known, &leaf)) {
        /* found without the lock: good if the image did not end meanwhile (its trie is
         * emptied then, and the node may be stale) */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&memtap_image_seq, __ATOMIC_RELAXED) == *image) {
            tls_cache_is_last_walk = tls_walk_is_native;
            return interned(leaf, *image);
        }
    }
    memtap_lock(&trie_lock);
    *image = memtap_image_seq;
    if (!memtap_tracking() ||
        memtap_stack_intern(&trie, *image, frames, n, known, max_depth, emit_node, &leaf) < 0) {
        if (memtap_tracking())
            memtap_disable("out of memory for stacks", ENOMEM);
        leaf = 0;
    } else {
        tls_cache_is_last_walk = tls_walk_is_native;
    }
    memtap_unlock(&trie_lock);
    return interned(leaf, *image);
}

int memtap_callstack_room(void) {
    return max_depth + MEMTAP_OWN_FRAMES_MAX + MEMTAP_PY_MAX_FRAMES;
}

/* The stack of the allocating call: native frames (unless the capture asked for Python
 * frames only and the thread runs Python), then the thread's Python frames, innermost
 * first: the reader merges them into the native frames of the interpreter loop. (Python
 * frames at the leaf end instead measured no faster, and 1% larger.) */
/* The thread's stack cache (stacks.c) holds the last stack interned; when that was the
 * last walk's result as it stands (tls_cache_is_last_walk), the walk's count of unchanged
 * outermost frames spares comparing them again, and copying them: the cache has them. */

/* A stack with Python frames whose key the thread's memo holds: its node, found without
 * reading the Python frames' values or interning. The key: the native frames in two words
 * (a walk's: VERSIONED | n, then their version, stack/versions.h; with no walk: ENTRY | n,
 * then the one frame or 0), or listed (a walk with no version: n, then frames[0..n)); then
 * the Python frames' raw key. */
#define VERSIONED (1ull << 63)
#define ENTRY (1ull << 62)
static int memo_hit(const uint64_t *frames, int n, int walked, uint64_t version) {
    memo_walk_t *m = &tls_memo;
    int words = version || !walked ? 2 : 1 + n; /* the native frames' */
    if (words >= MEMTAP_MEMO_KEY_MAX)
        return 0;
    uint64_t h;
    if (words == 2) {
        m->key[0] = (walked ? VERSIONED : ENTRY) | (uint64_t)n;
        m->key[1] = walked ? version : n ? frames[0] : 0;
        h = memtap_memo_mix(memtap_memo_mix(MEMTAP_MEMO_SEED, m->key[0]), m->key[1]);
    } else {
        m->key[0] = (uint64_t)n;
        h = memtap_memo_mix(MEMTAP_MEMO_SEED, (uint64_t)n);
        for (int i = 0; i < n; i++) {
            m->key[1 + i] = frames[i];
            h = memtap_memo_mix(h, frames[i]);
        }
    }
    m->hash = h;
    int k = memtap_pystack_key(m->key + words, MEMTAP_MEMO_KEY_MAX - words, &m->hash, &m->epoch);
    if (k < 0)
        return 0;
    m->image = __atomic_load_n(&memtap_image_seq, __ATOMIC_ACQUIRE);
    m->leaf = memtap_memo_find(m->key, words + k, m->hash, m->image, m->epoch);
    if (m->leaf) {
        memtap_pystack_skip();
        tls_cache_is_last_walk = 0;
        return 1;
    }
    m->n = words + k; /* interned as usual, then remembered */
    return 0;
}

int memtap_stack_of_call(uint64_t *frames, int *known, int use_memo) {
    int n = 0, same_outer = 0, walked = 0, unwritten = 0;
    *known = 0;
    tls_memo.n = 0;
    int python_depth = memtap_pystack_depth();
    /* A lazy walk leaves frames[n - same_outer, n) unwritten: without Python, the stack cache
     * has them (when it holds the last walk); under Python, the unwinder's kept walk has them,
     * and a memo hit needs them not at all */
    int lazy = python_depth ? MEMTAP_LAZY_KEPT : tls_cache_is_last_walk ? MEMTAP_LAZY_CACHE : 0;
    uint64_t version = 0;
    if (!python_only || !python_depth) {
        n = memtap_unwind(frames, max_depth, &same_outer, lazy); /* gates its locking parts */
        walked = 1;
        if (python_depth) {
            /* the outer frames stay unwritten only while a version names them: the table
             * may have none for frames the unwinder vouches for (after a walk without
             * Python, say), or give none (a walk too deep) */
            unwritten = memtap_versions_vouched(same_outer) ? same_outer : 0;
            if (same_outer > unwritten)
                memtap_fast_unwind_fill_outer(frames, n, same_outer);
            version = memtap_versions_of_walk(frames, n, same_outer);
            if (!version && unwritten) {
                memtap_fast_unwind_fill_outer(frames, n, unwritten);
                unwritten = 0;
            }
        } else {
            memtap_versions_forget();
        }
    } else if (memtap_entry_regs.rsp) {
        frames[n++] = memtap_entry_regs.ip; /* the C function that allocated, for free */
    }
    if (python_depth && use_memo && memo_hit(frames, n, walked, version))
        return MEMTAP_STACK_MEMO; /* (a hit needs no unwritten frame) */
    if (unwritten) /* a miss: interning needs them */
        memtap_fast_unwind_fill_outer(frames, n, unwritten);
    int python = memtap_pystack_frames(frames + n, MEMTAP_PY_MAX_FRAMES);
    /* Python frames sit at the outer end: then nothing is known */
    if (!python && tls_cache_is_last_walk)
        *known = same_outer;
    else if (lazy == MEMTAP_LAZY_CACHE && same_outer)
        memtap_stack_fill_outer(frames, n, same_outer);
    tls_cache_is_last_walk = 0; /* until this stack is interned */
    /* only a walk's result may stand for the unwinder's last walk (not the one frame above) */
    tls_walk_is_native = walked && n > 0 && !python;
    return n + python;
}

