/* Record encoder. Layouts (docs/format.md has the byte tables):
 *
 *   NODE    05 | varint(id - parent) | zigzag(frame - last_frame)      id is implicit: n+1
 *   ALLOC   1k | zigzag(addr - last_addr) | varint(size) | varint(node)  k = allocator kind
 *   FREE    06 | zigzag(addr - last_addr)
 *   MUNMAP  07 | zigzag(addr - last_addr) | varint(length)
 *   TIME    08 | varint(ms since start) | varint(rss bytes)
 *   PY_NODE 0f | varint(id - parent) | varint(code id) | varint(line << 1 | entry)
 *   PY_CODE 0d | varint(code id) | varint(first line) | bytes(qualname) | bytes(filename)
 *   CHUNK   20 | varint(source) | varint(watermark) | varint(n) | n bytes of records
 *   SKIP    21 | varint(n)            SKIP_SHORT 27+n (n = 1..8)
 *   ALLOC_SAME 3k | zigzag(addr - last_addr) | varint(size)   node: the last ALLOC's (v3)
 *
 * Version 4 thread records (model: include/memtap/format.h, record.h):
 *   ALLOC_MODEL 80|NRS|L  where = R ? distance - 1 : zigzag((addr - base) / 16), base the
 *                         node's last address (v5) or the thread's last allocation's (v4):
 *                         L = where < 15 ? where : 15 and varint(where - 15) follows
 *                         | S ? - : varint(size) | N ? - : varint(node)   kind: the node's last
 *   ALLOC   1k | zigzag(addr - last_alloc) | varint(size) | varint(node)
 *                                  (a new site or kind at the node, an unaligned address)
 *   FREE_REF 41..5f (distance) | 60|d>>8 byte(d) | 40 varint(distance)
 *   FREE_UNITS 22+c | zigzag((addr - c-th last free) / 16)  (v4: c = 0)
 *   FREE 06 | zigzag(addr - last_free)
 *   MUNMAP  07 | zigzag(addr - last_free) | varint(length)
 */
#include "output/record.h"

#include <string.h>
#include <sys/mman.h>

#include "memtap/format.h"
#include "memtap/varint.h"

/* The writer forms only tests ask for (record.h): constant 0 in the library. */
#ifdef MEMTAP_TEST_SEAMS
#define TEST_ENCODERS 64
static struct {
    const memtap_enc_t *e;
    unsigned forms;
} test_forms[TEST_ENCODERS];

void memtap_enc_test_form(const memtap_enc_t *e, unsigned forms) {
    int free_slot = -1;
    for (int i = 0; i < TEST_ENCODERS; i++) {
        if (test_forms[i].e == e) {
            test_forms[i].forms = forms;
            return;
        }
        if (!test_forms[i].e && free_slot < 0)
            free_slot = i;
    }
    if (forms && free_slot >= 0) {
        test_forms[free_slot].e = e;
        test_forms[free_slot].forms = forms;
    }
}

static unsigned forms_of(const memtap_enc_t *e) {
    for (int i = 0; i < TEST_ENCODERS; i++)
        if (test_forms[i].e == e)
            return test_forms[i].forms;
    return 0;
}
#define SAME_NODE_FORM(e) (forms_of(e) & MEMTAP_ENC_SAME_NODE)
#define MODEL_V4(e) ((forms_of(e) & MEMTAP_ENC_MODEL_V4) != 0)
#else
#define SAME_NODE_FORM(e) 0
#define MODEL_V4(e) 0
#endif

static void put_byte(memtap_enc_t *e, uint8_t b) { e->buf[e->len++] = b; }
static void put_varint(memtap_enc_t *e, uint64_t v) { e->len += memtap_varint_put(e->buf + e->len, v); }
static void put_delta(memtap_enc_t *e, uint64_t v, uint64_t *last) {
    put_varint(e, memtap_zigzag((int64_t)(v - *last)));
    *last = v;
}
static void put_bytes(memtap_enc_t *e, const void *p, size_t n) {
    put_varint(e, n);
    if (n) /* p may be NULL when empty */
        memcpy(e->buf + e->len, p, n);
    e->len += n;
}
static size_t room(const memtap_enc_t *e) { return e->cap - e->len; }
static size_t bounded_strlen(const char *s) {
    size_t n = s ? strlen(s) : 0;
    return n > MEMTAP_MAX_STRING ? MEMTAP_MAX_STRING : n;
}

void memtap_enc_reset(memtap_enc_t *e) {
    e->len = 0;
    e->last_addr = e->last_frame = 0;
    e->allocations = e->frees = e->nodes = 0;
    e->last_node = 0;
    /* MADV_REMOVE for a slot of the shared region (collector mode: DONTNEED would keep the
     * old contents there), DONTNEED for a private mapping, memset anywhere else */
    if (e->model && madvise(e->model, sizeof *e->model, MADV_REMOVE) != 0 &&
        madvise(e->model, sizeof *e->model, MADV_DONTNEED) != 0)
        memset(e->model, 0, sizeof *e->model);
}

int memtap_enc_header(memtap_enc_t *e, const memtap_header_info_t *h) {
    size_t exe_len = bounded_strlen(h->exe);
    size_t cmd_len = h->cmdline_len > MEMTAP_MAX_STRING ? MEMTAP_MAX_STRING : h->cmdline_len;
    if (room(e) < 8 + 6 * MEMTAP_VARINT_MAX + exe_len + cmd_len + 2 * MEMTAP_VARINT_MAX)
        return -1;
    memcpy(e->buf + e->len, MEMTAP_MAGIC, MEMTAP_MAGIC_LEN);
    e->len += MEMTAP_MAGIC_LEN;
    unsigned version = h->version ? h->version : MEMTAP_FORMAT_VERSION;
    put_byte(e, version & 0xff);
    put_byte(e, (uint8_t)(version >> 8));
    put_varint(e, h->flags);
    put_varint(e, h->pid);
    put_varint(e, h->ppid);
    put_varint(e, h->start_unix_ns);
    put_varint(e, h->page_size);
    put_bytes(e, h->exe ? h->exe : "", exe_len);
    put_bytes(e, h->cmdline ? h->cmdline : "", cmd_len);
    return 0;
}

int memtap_enc_module(memtap_enc_t *e, const char *path, uint64_t bias, const uint8_t *build_id,
                      size_t build_id_len, const memtap_segment_t *segs, size_t nseg) {
    size_t path_len = bounded_strlen(path);
    if (build_id_len > MEMTAP_MAX_BUILD_ID)
        build_id_len = 0; /* not a real GNU build-id: record none */
    if (nseg > MEMTAP_MAX_SEGMENTS)
        nseg = MEMTAP_MAX_SEGMENTS;
    if (room(e) < 1 + 4 * MEMTAP_VARINT_MAX + path_len + build_id_len +
                      nseg * 3 * MEMTAP_VARINT_MAX)
        return -1;
    put_byte(e, MEMTAP_REC_MODULE);
    put_bytes(e, path ? path : "", path_len);
    put_varint(e, bias);
    put_bytes(e, build_id, build_id_len);
    put_varint(e, nseg);
    for (size_t i = 0; i < nseg; i++) {
        put_varint(e, segs[i].vaddr);
        put_varint(e, segs[i].memsz);
        put_varint(e, segs[i].flags);
    }
    return 0;
}

/* type | varint | bytes: THREAD (tid, name) and THREAD_NAME (index, name) */
static int put_number_and_name(memtap_enc_t *e, uint8_t type, uint64_t v, const char *name) {
    size_t n = bounded_strlen(name);
    if (room(e) < 1 + 2 * MEMTAP_VARINT_MAX + n)
        return -1;
    put_byte(e, type);
    put_varint(e, v);
    put_bytes(e, name ? name : "", n);
    return 0;
}

int memtap_enc_thread(memtap_enc_t *e, uint64_t tid, const char *name) {
    return put_number_and_name(e, MEMTAP_REC_THREAD, tid, name);
}

int memtap_enc_thread_name(memtap_enc_t *e, uint32_t index, const char *name) {
    return put_number_and_name(e, MEMTAP_REC_THREAD_NAME, index, name);
}

void memtap_enc_simple(memtap_enc_t *e, uint8_t type) { put_byte(e, type); }

void memtap_enc_u64(memtap_enc_t *e, uint8_t type, uint64_t v) {
    put_byte(e, type);
    put_varint(e, v);
}

void memtap_enc_node(memtap_enc_t *e, uint32_t id, uint32_t parent, uint64_t frame) {
    put_byte(e, MEMTAP_REC_NODE);
    put_varint(e, (uint64_t)id - parent);
    put_delta(e, frame, &e->last_frame);
    e->nodes++;
}

/* The slot of addr, or -1 for an address the table cannot hold (unaligned, above 2^48, or
 * 0, which an empty slot would seem to hold). */
static inline int32_t model_slot(uint64_t addr) {
    if ((addr & 15) || addr >> (MEMTAP_MODEL_SLOT_ADDR_BITS + 4) || !addr)
        return -1;
    return (int32_t)((((addr >> 4) * 0x9e3779b97f4a7c15ull) >> 32) & (MEMTAP_MODEL_SLOTS - 1));
}

/* The distance back to the record that last named addr (slot: model_slot's), or 0. */
static inline uint64_t model_ref(const memtap_model_t *m, uint64_t addr, int32_t slot) {
    if (slot < 0)
        return 0;
    uint64_t e = m->slot[slot];
    uint64_t d = (m->seq - (e >> MEMTAP_MODEL_SLOT_ADDR_BITS)) & (2 * MEMTAP_MODEL_EPOCH - 1);
    return (e & ((1ull << MEMTAP_MODEL_SLOT_ADDR_BITS) - 1)) == addr >> 4 &&
                   d <= MEMTAP_MODEL_RING
               ? d
               : 0;
}

static inline void model_named(memtap_model_t *m, int32_t slot, uint64_t addr) {
    if (slot >= 0)
        m->slot[slot] = addr >> 4 | (m->seq & (2 * MEMTAP_MODEL_EPOCH - 1))
                                         << MEMTAP_MODEL_SLOT_ADDR_BITS;
    if ((++m->seq & (MEMTAP_MODEL_EPOCH - 1)) == 0)
        memset(m->slot, 0, sizeof m->slot);
}

/* The two below read the model, then write the record's bytes through a local pointer, then
 * update the model: a byte store may alias anything, so the model is not read after one. */
static void alloc_modelled(memtap_enc_t *e, unsigned kind, uint64_t addr, uint64_t size,
                           uint32_t node) {
    memtap_model_t *m = e->model;
    int32_t slot = model_slot(addr);
    uint64_t ref = model_ref(m, addr, slot);
    uint64_t delta = addr - m->last_alloc;
    uint32_t predicted = memtap_model_predicted(&m->sites), last_size;
    unsigned last_kind;
    int site = memtap_model_site(&m->sites, node, &last_kind, &last_size);
    uint64_t near = site && !MODEL_V4(e) ? addr - memtap_model_site_addr(&m->sites, node) : delta;
    uint8_t *o = e->buf + e->len, *start = o;
    if (!site || last_kind != kind || (!ref && (near & 15))) {
        /* a new site or kind, or an address off the 16-byte grid: every field written */
        *o++ = (uint8_t)(MEMTAP_REC_ALLOC | (kind & 0x0f));
        o += memtap_varint_put(o, memtap_zigzag((int64_t)delta));
        o += memtap_varint_put(o, size);
        o += memtap_varint_put(o, node);
    } else {
        int size_known = size == last_size && last_size != MEMTAP_MODEL_SIZE_NONE;
        uint64_t where = ref ? ref - 1 : memtap_zigzag((int64_t)near >> 4);
        *o++ = (uint8_t)(MEMTAP_REC_ALLOC_MODEL | (node == predicted ? MEMTAP_MODEL_NODE : 0) |
                         (ref ? MEMTAP_MODEL_REF : 0) | (size_known ? MEMTAP_MODEL_SIZE : 0) |
                         (where < MEMTAP_MODEL_INLINE ? where : MEMTAP_MODEL_INLINE));
        if (where >= MEMTAP_MODEL_INLINE)
            o += memtap_varint_put(o, where - MEMTAP_MODEL_INLINE);
        if (!size_known)
            o += memtap_varint_put(o, size);
        if (node != predicted)
            o += memtap_varint_put(o, node);
    }
    e->len += (size_t)(o - start);
    memtap_model_learn_alloc(&m->sites, node, kind, size, addr);
    m->last_alloc = addr;
    model_named(m, slot, addr);
}

/* The FREE_UNITS base nearest addr on the 16-byte grid: c in [0, MEMTAP_MODEL_FREES), with
 * *delta from it; -1 when none is on the grid. No branch per candidate: a free that finds
 * no reference (an old block) comes here often. */
static inline int nearest_free_base(const memtap_model_frees_t *f, uint64_t addr, int v4,
                                    uint64_t *delta) {
    if (v4) {
        *delta = addr - memtap_model_free_base(f, 0);
        return *delta & 15 ? -1 : 0;
    }
    unsigned best = 0;
    uint64_t best_size = UINT64_MAX, best_delta = 0;
#pragma GCC unroll 4
    for (unsigned i = 0; i < MEMTAP_MODEL_FREES; i++) { /* by slot */
        uint64_t d = addr - f->addr[i];
        uint64_t sign = (uint64_t)((int64_t)d >> 63);
        uint64_t size = ((d ^ sign) - sign) | -(uint64_t)((d & 15) != 0); /* off grid: ~0 */
        int nearer = size < best_size;
        best = nearer ? i : best;
        best_size = nearer ? size : best_size;
        best_delta = nearer ? d : best_delta;
    }
    *delta = best_delta;
    /* slot i holds the c-th last free for c = n - 1 - i (mod MEMTAP_MODEL_FREES) */
    return best_size == UINT64_MAX ? -1 : (int)((f->n - 1 - best) & (MEMTAP_MODEL_FREES - 1));
}

static void free_modelled(memtap_enc_t *e, uint64_t addr) {
    memtap_model_t *m = e->model;
    int32_t slot = model_slot(addr);
    uint64_t ref = model_ref(m, addr, slot);
    uint64_t units;
    int base;
    uint8_t *o = e->buf + e->len, *start = o;
    if (ref && ref < MEMTAP_FREE_REF_SHORT) {
        *o++ = (uint8_t)(MEMTAP_REC_FREE_REF | ref);
    } else if (ref && ref < 8192) {
        *o++ = (uint8_t)(MEMTAP_FREE_REF_MID | ref >> 8);
        *o++ = (uint8_t)ref;
    } else if (ref) {
        *o++ = MEMTAP_REC_FREE_REF;
        o += memtap_varint_put(o, ref);
    } else if ((base = nearest_free_base(&m->frees, addr, MODEL_V4(e), &units)) >= 0) {
        *o++ = (uint8_t)(MEMTAP_REC_FREE_UNITS + base);
        o += memtap_varint_put(o, memtap_zigzag((int64_t)units >> 4));
    } else {
        *o++ = MEMTAP_REC_FREE;
        uint64_t delta = addr - memtap_model_free_base(&m->frees, 0);
        o += memtap_varint_put(o, memtap_zigzag((int64_t)delta));
    }
    e->len += (size_t)(o - start);
    memtap_model_learn_free(&m->frees, addr);
    model_named(m, slot, addr);
}

void memtap_enc_alloc(memtap_enc_t *e, unsigned kind, uint64_t addr, uint64_t size,
                      uint32_t node) {
    e->allocations++;
    if (e->model) {
        alloc_modelled(e, kind, addr, size, node);
        return;
    }
    int same = SAME_NODE_FORM(e) && node == e->last_node && node != 0;
    put_byte(e, (uint8_t)((same ? MEMTAP_REC_ALLOC_SAME : MEMTAP_REC_ALLOC) | (kind & 0x0f)));
    put_delta(e, addr, &e->last_addr);
    put_varint(e, size);
    if (!same)
        put_varint(e, node);
    e->last_node = node;
}

void memtap_enc_free(memtap_enc_t *e, uint64_t addr) {
    e->frees++;
    if (e->model) {
        free_modelled(e, addr);
        return;
    }
    put_byte(e, MEMTAP_REC_FREE);
    put_delta(e, addr, &e->last_addr);
}

void memtap_enc_munmap(memtap_enc_t *e, uint64_t addr, uint64_t len) {
    put_byte(e, MEMTAP_REC_MUNMAP);
    if (e->model) {
        uint64_t delta = addr - memtap_model_free_base(&e->model->frees, 0);
        put_varint(e, memtap_zigzag((int64_t)delta));
        memtap_model_learn_free(&e->model->frees, addr);
    } else {
        put_delta(e, addr, &e->last_addr);
    }
    put_varint(e, len);
    e->frees++;
}

void memtap_enc_time(memtap_enc_t *e, uint64_t ms, uint64_t rss) {
    put_byte(e, MEMTAP_REC_TIME);
    put_varint(e, ms);
    put_varint(e, rss);
}

void memtap_enc_trailer(memtap_enc_t *e) {
    put_byte(e, MEMTAP_REC_TRAILER);
    put_varint(e, e->allocations);
    put_varint(e, e->frees);
    put_varint(e, e->nodes);
}

void memtap_enc_py_node(memtap_enc_t *e, uint32_t id, uint32_t parent, uint64_t code,
                        uint32_t line, int entry) {
    put_byte(e, MEMTAP_REC_PY_NODE);
    put_varint(e, (uint64_t)id - parent);
    put_varint(e, code);
    put_varint(e, (uint64_t)line << 1 | (entry ? 1 : 0));
    e->nodes++;
}

int memtap_enc_py_code(memtap_enc_t *e, uint64_t id, uint32_t firstline, const char *qualname,
                       size_t qualname_len, const char *filename, size_t filename_len) {
    if (qualname_len > MEMTAP_MAX_STRING || filename_len > MEMTAP_MAX_STRING ||
        room(e) < 1 + 4 * MEMTAP_VARINT_MAX + qualname_len + filename_len)
        return -1;
    put_byte(e, MEMTAP_REC_PY_CODE);
    put_varint(e, id);
    put_varint(e, firstline);
    put_bytes(e, qualname, qualname_len);
    put_bytes(e, filename, filename_len);
    return 0;
}

void memtap_enc_skip(memtap_enc_t *e, uint64_t n) {
    if (n - 1 < MEMTAP_SKIP_SHORT_MAX) { /* threads interleaving: most steps are small */
        put_byte(e, (uint8_t)(MEMTAP_REC_SKIP_SHORT - 1 + n));
        return;
    }
    put_byte(e, MEMTAP_REC_SKIP);
    put_varint(e, n);
}

size_t memtap_enc_chunk_header(uint8_t *out, uint32_t source, uint64_t watermark, size_t n) {
    size_t len = 0;
    out[len++] = MEMTAP_REC_CHUNK;
    len += memtap_varint_put(out + len, source);
    len += memtap_varint_put(out + len, watermark);
    len += memtap_varint_put(out + len, n);
    return len;
}
