/* Code ids: a hash table from code object addresses to ids (open addressing, guarded by the
 * code lock), the copies of names and files in a bump arena, and the entries by id in
 * chunks that never move (memtap_pystack_code reads them without the lock). A byte per
 * bucket of addresses counts the interned code objects in it, so a free of any other block
 * costs one byte read. */
#include "python/pycode.h"

#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "base/lock.h"
#include "python/pystack.h"

static const memtap_py_layout_t *layout;
static memtap_lock_t code_lock = MEMTAP_LOCK_INIT;
static uint32_t epoch;

static void *map(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static uint64_t mix(const void *p) {
    return ((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull;
}

/* --- entries by id: 1..n, chunks never move, strings in a bump arena ------------------ */

#define CHUNK_BITS 12
#define CHUNK_SIZE (1u << CHUNK_BITS)
#define MAX_CHUNKS 4096
#define MAX_NAME 4096 /* bytes of a name or file kept */
#define ARENA_SIZE (1u << 20)

static memtap_py_code_t *chunks[MAX_CHUNKS];
static uint64_t code_count;
static char *arena_at, *arena_end;

memtap_py_code_t *memtap_pystack_code(uint64_t id) {
    if (id == 0 || id > __atomic_load_n(&code_count, __ATOMIC_ACQUIRE))
        return NULL;
    return &chunks[(id - 1) >> CHUNK_BITS][(id - 1) & (CHUNK_SIZE - 1)];
}

/* Room for `bytes` in the arena (code lock held). */
static char *arena_take(size_t bytes) {
    if ((size_t)(arena_end - arena_at) < bytes) {
        arena_at = map(ARENA_SIZE);
        arena_end = arena_at ? arena_at + ARENA_SIZE : NULL;
        if (!arena_at)
            return NULL;
    }
    char *d = arena_at;
    arena_at += bytes;
    return d;
}

/* UTF-8 of n code points of `kind` bytes each at data, cut at `room` bytes. */
static size_t encode_utf8(char *out, size_t room, const char *data, int kind, size_t n) {
    static const uint8_t lead[5] = {0, 0, 0xc0, 0xe0, 0xf0};
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = kind == 1   ? ((const uint8_t *)data)[i]
                     : kind == 2 ? ((const uint16_t *)data)[i]
                                 : ((const uint32_t *)data)[i];
        int len = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
        if (o + (size_t)len > room)
            break;
        for (int k = len - 1; k > 0; k--, c >>= 6)
            out[o + (size_t)k] = (char)(0x80 | (c & 0x3f));
        out[o] = (char)(len == 1 ? c : lead[len] | c);
        o += (size_t)len;
    }
    return o;
}

/* A copy of a str object's text in the arena (code lock held), at most MAX_NAME bytes:
 * compact strings only, which is what code objects hold; "?" for anything else. */
static const char *copy_str(const char *s, uint32_t *out_len) {
    const memtap_py_layout_t *l = layout;
    const char *bytes = "?", *points = NULL;
    size_t len = 1;
    uint32_t state = 0;
    if (s)
        memcpy(&state, s + l->str_state, sizeof state);
    int kind = (int)(state >> l->str_kind_shift & 7);
    if (state >> l->str_compact_bit & 1) {
        size_t n;
        memcpy(&n, s + l->str_length, sizeof n);
        const char *utf8 = NULL;
        if (state >> l->str_ascii_bit & 1) {
            bytes = s + l->str_ascii_size, len = n;
        } else if (memcpy(&utf8, s + l->str_utf8, sizeof utf8), utf8) {
            bytes = utf8; /* the UTF-8 copy the interpreter keeps once asked for one */
            memcpy(&len, s + l->str_utf8_length, sizeof len);
        } else if (kind == 1 || kind == 2 || kind == 4) {
            points = s + l->str_compact_size, len = n;
        }
    }
    size_t room = points ? (len < MAX_NAME / 4 ? len * 4 : MAX_NAME) : len;
    room = room < MAX_NAME ? room : MAX_NAME;
    char *d = arena_take(room + 1);
    if (!d)
        return NULL;
    size_t n = points ? encode_utf8(d, room, points, kind, len) : room;
    if (!points)
        memcpy(d, bytes, n);
    d[n] = '\0';
    *out_len = (uint32_t)n;
    return d;
}

/* --- addresses to ids ------------------------------------------------------------------- */

#define TOMBSTONE ((uintptr_t)1) /* a forgotten entry; no object lives at address 1 */
#define MIN_SLOTS 4096u
#define FILTER_BITS 16

typedef struct {
    uintptr_t code; /* 0: empty */
    uint32_t id;
} slot_t;

static slot_t *slots;
static size_t slot_count, slots_used, slots_live; /* used counts tombstones too */
static uint8_t filter[1u << FILTER_BITS];         /* interned code objects per bucket; 255 sticks */

static size_t bucket(const void *p) {
    return (size_t)(mix(p) >> (64 - FILTER_BITS));
}

/* The slot holding code, or the empty one where it would go (code lock held). */
static slot_t *find(uintptr_t code, slot_t **free_slot) {
    size_t mask = slot_count - 1, i = (size_t)(mix((void *)code) >> 20) & mask;
    *free_slot = NULL;
    for (;; i = (i + 1) & mask) {
        slot_t *s = &slots[i];
        if (s->code == code)
            return s;
        if (s->code == TOMBSTONE && !*free_slot)
            *free_slot = s;
        if (!s->code) {
            if (!*free_slot)
                *free_slot = s;
            return NULL;
        }
    }
}

/* Keeps the table at most half used, tombstones included (code lock held). */
static int make_room(void) {
    if (slots && 2 * (slots_used + 1) <= slot_count)
        return 0;
    size_t n = slot_count ? slot_count : MIN_SLOTS;
    while (2 * (slots_live + 1) > n / 2)
        n *= 2;
    slot_t *old = slots, *fresh = map(n * sizeof *fresh);
    if (!fresh)
        return -1;
    size_t old_count = slot_count;
    slots = fresh, slot_count = n, slots_used = slots_live;
    for (size_t i = 0; i < old_count; i++) {
        if (old[i].code > TOMBSTONE) {
            slot_t *spot;
            find(old[i].code, &spot);
            *spot = old[i];
        }
    }
    if (old)
        munmap(old, old_count * sizeof *old);
    return 0;
}

/* Copies the code object's name, file and first line under the next id (code lock held). */
static uint32_t new_entry(const char *code) {
    const memtap_py_layout_t *l = layout;
    uint64_t n = code_count;
    size_t c = (size_t)(n >> CHUNK_BITS);
    if (c >= MAX_CHUNKS || (!chunks[c] && !(chunks[c] = map(CHUNK_SIZE * sizeof **chunks))))
        return 0;
    const char *name, *file;
    memcpy(&name, code + (l->co_qualname ? l->co_qualname : l->co_name), sizeof name);
    memcpy(&file, code + l->co_filename, sizeof file);
    int first;
    memcpy(&first, code + l->co_firstlineno, sizeof first);
    memtap_py_code_t *e = &chunks[c][n & (CHUNK_SIZE - 1)];
    e->qualname = copy_str(name, &e->qualname_len);
    e->filename = copy_str(file, &e->filename_len);
    e->firstline = first > 0 ? (uint32_t)first : 0;
    e->emitted_image = 0;
    if (!e->qualname || !e->filename)
        return 0;
    __atomic_store_n(&code_count, n + 1, __ATOMIC_RELEASE);
    return (uint32_t)(n + 1);
}

uint32_t memtap_pycode_id(const char *code) {
    if (!layout)
        return 0;
    uint32_t id = 0;
    memtap_lock(&code_lock);
    slot_t *spot, *s;
    if (make_room() == 0) {
        if ((s = find((uintptr_t)code, &spot)) != NULL) {
            id = s->id;
        } else if ((id = new_entry(code)) != 0) {
            slots_used += spot->code != TOMBSTONE;
            slots_live++;
            *spot = (slot_t){(uintptr_t)code, id};
            uint8_t *f = &filter[bucket(code)];
            if (*f != 255)
                __atomic_store_n(f, (uint8_t)(*f + 1), __ATOMIC_RELAXED);
        }
    }
    memtap_unlock(&code_lock);
    return id;
}

void memtap_pycode_forget(const void *p) {
    uint8_t *f = &filter[bucket(p)];
    if (__builtin_expect(!__atomic_load_n(f, __ATOMIC_RELAXED), 1))
        return;
    memtap_lock(&code_lock);
    slot_t *spot, *s = slots ? find((uintptr_t)p, &spot) : NULL;
    if (s) {
        s->code = TOMBSTONE;
        slots_live--;
        if (*f != 255)
            __atomic_store_n(f, (uint8_t)(*f - 1), __ATOMIC_RELAXED);
        __atomic_fetch_add(&epoch, 1, __ATOMIC_RELEASE);
    }
    memtap_unlock(&code_lock);
}

uint32_t memtap_pycode_epoch(void) {
    return __atomic_load_n(&epoch, __ATOMIC_ACQUIRE);
}

/* Around fork: the child gets the lock free, with the table as the forking thread saw it. */
static void fork_prepare(void) {
    memtap_lock(&code_lock);
}
static void fork_parent(void) {
    memtap_unlock(&code_lock);
}
static void fork_child(void) {
    memtap_lock_reset(&code_lock);
}

void memtap_pycode_init(const memtap_py_layout_t *l) {
    if (layout)
        return;
    layout = l;
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}
