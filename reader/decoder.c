/* Capture decoder: validated events from the decompressed record stream. Every length,
 * index and count is checked before use; the window never grows, so no input can make the
 * decoder allocate without bound. */
#include "decoder.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "memtap/varint.h"
#include "merge.h"

#define WIN_SIZE (1u << 20) /* larger than the largest valid record (~140 KiB) */
#define MAX_BLOCK (1ull << 57) /* 5-level paging's address space: no block is larger */

enum { EXPECT_HEADER, IN_FRAME, AFTER_TRAILER };
enum { PARSE_OK = 0, PARSE_MORE = 1, PARSE_BAD = 2 };

struct memtap_decoder {
    memtap_source_t src;
    uint8_t *win;
    size_t pos, len;
    uint64_t win_offset; /* stream offset of win[0] */
    int frame_end;       /* the window holds the rest of the current frame */
    int eof;
    int state;
    int done;
    unsigned frames;
    uint64_t last_addr, last_frame;
    uint32_t last_node; /* v3: the source being parsed's last ALLOC node */
    uint32_t nodes, threads;
    unsigned version;  /* of the current frame */
    unsigned max_kind; /* allocator kinds its version knows */
    uint64_t allocations, frees;
    memtap_merge_t merge;   /* v3: the sources' records waiting to be put in order */
    int merge_closed;       /* the frame's chunks are all read */
    uint32_t merged_thread; /* thread of the last record released (0: none yet) */
    uint32_t fast_id;       /* that thread's next records below fast_limit need no merge */
    uint64_t fast_limit;
    memtap_seg_t segs[MEMTAP_MAX_SEGMENTS];
    char error[512];
};

/* A cursor over the window; the first problem met is kept in status/why. */
typedef struct {
    const uint8_t *p, *end;
    int status;
    const char *why;
} cursor_t;

static uint64_t get_varint(cursor_t *c, const char *what) {
    uint64_t v = 0;
    if (c->status)
        return 0;
    int r = memtap_varint_get(&c->p, c->end, &v);
    if (r == 0)
        c->status = PARSE_MORE;
    else if (r < 0) {
        c->status = PARSE_BAD;
        c->why = what;
    }
    return v;
}

static uint8_t get_byte(cursor_t *c) {
    if (c->status)
        return 0;
    if (c->p >= c->end) {
        c->status = PARSE_MORE;
        return 0;
    }
    return *c->p++;
}

static const uint8_t *get_bytes(cursor_t *c, size_t *len, size_t max, const char *what) {
    uint64_t n = get_varint(c, what);
    if (c->status)
        return NULL;
    if (n > max) {
        c->status = PARSE_BAD;
        c->why = what;
        return NULL;
    }
    if ((size_t)(c->end - c->p) < n) {
        c->status = PARSE_MORE;
        return NULL;
    }
    const uint8_t *s = c->p;
    c->p += n;
    *len = (size_t)n;
    return s;
}

static void bad(cursor_t *c, const char *why) {
    if (!c->status) {
        c->status = PARSE_BAD;
        c->why = why;
    }
}

static int fail(memtap_decoder_t *d, int code, uint64_t offset, const char *fmt, ...) {
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (code == MEMTAP_ERR_VERSION)
        snprintf(d->error, sizeof d->error, "%s", msg);
    else
        snprintf(d->error, sizeof d->error, "corrupt capture at byte %llu: %s",
                 (unsigned long long)offset, msg);
    d->done = 1;
    return code;
}

int memtap_decoder_open(memtap_decoder_t **out, const char *path) {
    memtap_decoder_t *d = calloc(1, sizeof *d);
    *out = d;
    if (!d)
        return MEMTAP_ERR_NOMEM;
    d->state = EXPECT_HEADER;
    int rc = memtap_source_open(&d->src, path);
    if (rc != MEMTAP_OK) {
        snprintf(d->error, sizeof d->error, "%s", d->src.error);
        return rc;
    }
    d->win = malloc(WIN_SIZE);
    if (!d->win) {
        snprintf(d->error, sizeof d->error, "out of memory");
        return MEMTAP_ERR_NOMEM;
    }
    return MEMTAP_OK;
}

void memtap_decoder_free(memtap_decoder_t *d) {
    if (!d)
        return;
    memtap_source_close(&d->src);
    memtap_merge_free(&d->merge);
    free(d->win);
    free(d);
}

const char *memtap_decoder_error(const memtap_decoder_t *d) { return d->error; }

void memtap_decoder_progress(const memtap_decoder_t *d, uint64_t *done, uint64_t *total) {
    *done = d->src.file_pos;
    *total = d->src.file_size;
}

/* Moves the unread bytes to the front and decompresses more of the current frame. */
static int fill(memtap_decoder_t *d) {
    if (d->pos > 0) {
        memmove(d->win, d->win + d->pos, d->len - d->pos);
        d->win_offset += d->pos;
        d->len -= d->pos;
        d->pos = 0;
    }
    size_t n;
    int rc = memtap_source_read(&d->src, d->win + d->len, WIN_SIZE - d->len, &n, &d->frame_end);
    if (rc != MEMTAP_OK) {
        snprintf(d->error, sizeof d->error, "%s", d->src.error);
        if (d->src.file_pos == 0 && rc == MEMTAP_ERR_CORRUPT)
            snprintf(d->error, sizeof d->error, "not a memtap capture (no LZ4 frame at byte 0)");
        d->done = 1;
        return rc;
    }
    d->len += n;
    if (n == 0 && !d->frame_end)
        d->eof = 1;
    return MEMTAP_OK;
}

static void parse_header(memtap_decoder_t *d, cursor_t *c, memtap_event_t *ev) {
    if ((size_t)(c->end - c->p) < MEMTAP_MAGIC_LEN + 2) {
        c->status = PARSE_MORE;
        return;
    }
    if (memcmp(c->p, MEMTAP_MAGIC, MEMTAP_MAGIC_LEN) != 0) {
        bad(c, "frame does not start with a memtap header (bad magic)");
        return;
    }
    c->p += MEMTAP_MAGIC_LEN;
    unsigned version = c->p[0] | (unsigned)c->p[1] << 8;
    c->p += 2;
    ev->type = MEMTAP_EV_HEADER;
    ev->u.header.version = version;
    if (version == 0) {
        bad(c, "format version 0");
        return;
    }
    if (version > MEMTAP_FORMAT_VERSION)
        return; /* reported by the caller as a version error */
    d->version = version;
    d->max_kind = version >= 2 ? MEMTAP_KIND_PYMEM_OBJ : MEMTAP_KIND_MMAP;
    ev->u.header.flags = (uint32_t)get_varint(c, "header flags");
    ev->u.header.pid = get_varint(c, "pid");
    ev->u.header.ppid = get_varint(c, "ppid");
    ev->u.header.start_unix_ns = get_varint(c, "start time");
    ev->u.header.page_size = get_varint(c, "page size");
    ev->u.header.exe = (const char *)get_bytes(c, &ev->u.header.exe_len, MEMTAP_MAX_STRING,
                                               "executable path too long");
    ev->u.header.cmdline = (const char *)get_bytes(c, &ev->u.header.cmdline_len,
                                                   MEMTAP_MAX_STRING, "command line too long");
    (void)d;
}

static void parse_record(memtap_decoder_t *d, cursor_t *c, memtap_event_t *ev) {
    uint8_t type = get_byte(c);
    if (c->status)
        return;
    if (d->state == AFTER_TRAILER) {
        bad(c, "record after the trailer");
        return;
    }
    int same = (type & 0xf0) == MEMTAP_REC_ALLOC_SAME && d->version >= 3;
    if ((type & 0xf0) == MEMTAP_REC_ALLOC || same) {
        unsigned kind = type & 0x0f;
        ev->type = MEMTAP_EV_ALLOC;
        ev->u.alloc.kind = kind;
        uint64_t delta = get_varint(c, "address");
        ev->u.alloc.size = get_varint(c, "size");
        uint64_t node = same ? d->last_node : get_varint(c, "stack node");
        if (c->status)
            return;
        if (kind > d->max_kind)
            return bad(c, "unknown allocator kind");
        if (node > d->nodes && d->version < 3) /* v3: checked when released (merged_event) */
            return bad(c, "allocation names a stack node not yet defined");
        if (ev->u.alloc.size > MAX_BLOCK)
            return bad(c, "allocation larger than any address space");
        ev->u.alloc.addr = d->last_addr + (uint64_t)memtap_unzigzag(delta);
        ev->u.alloc.node = (uint32_t)node;
        return;
    }
    switch (type) {
    case MEMTAP_REC_MODULES_RESET:
        ev->type = MEMTAP_EV_MODULES_RESET;
        return;
    case MEMTAP_REC_MODULE: {
        ev->type = MEMTAP_EV_MODULE;
        ev->u.module.path = (const char *)get_bytes(c, &ev->u.module.path_len, MEMTAP_MAX_STRING,
                                                    "module path too long");
        ev->u.module.bias = get_varint(c, "module bias");
        ev->u.module.build_id = get_bytes(c, &ev->u.module.build_id_len, MEMTAP_MAX_BUILD_ID,
                                          "build-id too long");
        uint64_t nseg = get_varint(c, "segment count");
        if (!c->status && nseg > MEMTAP_MAX_SEGMENTS)
            return bad(c, "too many segments in a module");
        for (uint64_t i = 0; i < nseg && !c->status; i++) {
            d->segs[i].vaddr = get_varint(c, "segment address");
            d->segs[i].memsz = get_varint(c, "segment size");
            d->segs[i].flags = (uint32_t)get_varint(c, "segment flags");
        }
        ev->u.module.nseg = (size_t)nseg;
        ev->u.module.segs = d->segs;
        return;
    }
    case MEMTAP_REC_THREAD:
        ev->type = MEMTAP_EV_THREAD;
        ev->u.thread.tid = get_varint(c, "thread id");
        ev->u.thread.name = (const char *)get_bytes(c, &ev->u.thread.name_len, MEMTAP_MAX_STRING,
                                                    "thread name too long");
        if (!c->status && d->threads == UINT32_MAX)
            return bad(c, "too many threads");
        ev->u.thread.index = d->threads + 1;
        return;
    case MEMTAP_REC_THREAD_SWITCH:
    case MEMTAP_REC_THREAD_NAME: {
        ev->type = type == MEMTAP_REC_THREAD_SWITCH ? MEMTAP_EV_THREAD_SWITCH
                                                     : MEMTAP_EV_THREAD_NAME;
        uint64_t idx = get_varint(c, "thread index");
        if (type == MEMTAP_REC_THREAD_NAME)
            ev->u.thread.name = (const char *)get_bytes(
                c, &ev->u.thread.name_len, MEMTAP_MAX_STRING, "thread name too long");
        if (!c->status && (idx == 0 || idx > d->threads))
            return bad(c, "unknown thread index");
        ev->u.thread.index = (uint32_t)idx;
        return;
    }
    case MEMTAP_REC_NODE:
    case MEMTAP_REC_PY_NODE: {
        if (type == MEMTAP_REC_PY_NODE && d->version < 2)
            return bad(c, "unknown record type");
        ev->type = MEMTAP_EV_NODE;
        uint64_t up = get_varint(c, "node parent");
        uint64_t delta = 0, code = 0, line = 0;
        if (type == MEMTAP_REC_NODE) {
            delta = get_varint(c, "node frame");
        } else {
            code = get_varint(c, "Python code id");
            line = get_varint(c, "Python line");
        }
        if (c->status)
            return;
        if (type == MEMTAP_REC_PY_NODE &&
            (code == 0 || code > MEMTAP_PY_MAX_CODE || (line >> 1) >> MEMTAP_PY_LINE_BITS))
            return bad(c, "Python frame out of range");
        uint64_t id = (uint64_t)d->nodes + 1;
        if (id >= UINT32_MAX)
            return bad(c, "too many stack nodes");
        if (up == 0 || up > id)
            return bad(c, "stack node parent out of range");
        ev->u.node.id = (uint32_t)id;
        ev->u.node.parent = (uint32_t)(id - up);
        ev->u.node.frame = type == MEMTAP_REC_PY_NODE
                               ? memtap_py_frame(code, (uint32_t)(line >> 1), (int)(line & 1))
                               : d->last_frame + (uint64_t)memtap_unzigzag(delta);
        if (type == MEMTAP_REC_NODE && memtap_is_py_frame(ev->u.node.frame))
            return bad(c, "stack frame address out of range");
        return;
    }
    case MEMTAP_REC_PY_CODE:
        if (d->version < 2)
            return bad(c, "unknown record type");
        ev->type = MEMTAP_EV_PY_CODE;
        ev->u.py_code.id = get_varint(c, "Python code id");
        ev->u.py_code.firstline = get_varint(c, "Python line");
        ev->u.py_code.qualname = (const char *)get_bytes(
            c, &ev->u.py_code.qualname_len, MEMTAP_MAX_STRING, "Python function name too long");
        ev->u.py_code.filename = (const char *)get_bytes(
            c, &ev->u.py_code.filename_len, MEMTAP_MAX_STRING, "Python file name too long");
        if (!c->status && (ev->u.py_code.id == 0 || ev->u.py_code.id > MEMTAP_PY_MAX_CODE ||
                           ev->u.py_code.firstline > UINT32_MAX))
            return bad(c, "Python code out of range");
        return;
    case MEMTAP_REC_MAIN_DONE:
        if (d->version < 2)
            return bad(c, "unknown record type");
        ev->type = MEMTAP_EV_MAIN_DONE;
        ev->u.time.ms = get_varint(c, "time");
        ev->u.time.rss = 0;
        return;
    case MEMTAP_REC_FREE:
    case MEMTAP_REC_MUNMAP: {
        ev->type = type == MEMTAP_REC_FREE ? MEMTAP_EV_FREE : MEMTAP_EV_MUNMAP;
        uint64_t delta = get_varint(c, "address");
        ev->u.free.len = type == MEMTAP_REC_MUNMAP ? get_varint(c, "length") : 0;
        if (ev->u.free.len > MAX_BLOCK)
            return bad(c, "unmapping larger than any address space");
        ev->u.free.addr = d->last_addr + (uint64_t)memtap_unzigzag(delta);
        return;
    }
    case MEMTAP_REC_TIME:
        ev->type = MEMTAP_EV_TIME;
        ev->u.time.ms = get_varint(c, "time");
        ev->u.time.rss = get_varint(c, "rss");
        return;
    case MEMTAP_REC_EXEC:
    case MEMTAP_REC_EXIT:
        ev->type = type == MEMTAP_REC_EXEC ? MEMTAP_EV_EXEC : MEMTAP_EV_EXIT;
        ev->u.time.ms = get_varint(c, "time");
        ev->u.time.rss = 0;
        return;
    case MEMTAP_REC_TRAILER:
        ev->type = MEMTAP_EV_TRAILER;
        ev->u.trailer.allocations = get_varint(c, "trailer");
        ev->u.trailer.frees = get_varint(c, "trailer");
        ev->u.trailer.nodes = get_varint(c, "trailer");
        return;
    default:
        bad(c, "unknown record type");
    }
}

/* Applies a parsed event to the decoder's own state (deltas, counts, order). */
static int commit(memtap_decoder_t *d, memtap_event_t *ev) {
    switch (ev->type) {
    case MEMTAP_EV_HEADER:
        d->state = IN_FRAME;
        d->frames++;
        memtap_merge_reset(&d->merge);
        d->merge_closed = 0;
        d->merged_thread = d->fast_id = 0;
        d->last_addr = d->last_frame = 0;
        d->nodes = d->threads = 0;
        d->allocations = d->frees = 0;
        break;
    case MEMTAP_EV_ALLOC:
        d->last_addr = ev->u.alloc.addr;
        d->allocations++;
        break;
    case MEMTAP_EV_FREE:
    case MEMTAP_EV_MUNMAP:
        d->last_addr = ev->u.free.addr;
        d->frees++;
        break;
    case MEMTAP_EV_NODE:
        if (!memtap_is_py_frame(ev->u.node.frame))
            d->last_frame = ev->u.node.frame;
        d->nodes++;
        break;
    case MEMTAP_EV_THREAD:
        d->threads++;
        break;
    case MEMTAP_EV_TRAILER:
        if (ev->u.trailer.allocations != d->allocations || ev->u.trailer.frees != d->frees ||
            ev->u.trailer.nodes != d->nodes)
            return fail(d, MEMTAP_ERR_CORRUPT, ev->offset,
                        "trailer counts %llu allocations, %llu frees, %llu nodes; the frame holds "
                        "%llu, %llu, %u",
                        (unsigned long long)ev->u.trailer.allocations,
                        (unsigned long long)ev->u.trailer.frees,
                        (unsigned long long)ev->u.trailer.nodes,
                        (unsigned long long)d->allocations, (unsigned long long)d->frees,
                        d->nodes);
        d->state = AFTER_TRAILER;
        break;
    default:
        break;
    }
    return MEMTAP_OK;
}

/* A varint from a window known to hold at least 10 more bytes. Returns 0 when it is longer
 * than 10 bytes or overflows (the general path then reports it). */
static inline int fast_varint(const uint8_t **p, uint64_t *v) {
    const uint8_t *q = *p;
    uint64_t b = q[0];
    if (b < 0x80) { /* most sizes and nodes */
        *p = q + 1;
        *v = b;
        return 1;
    }
    uint64_t r = b & 0x7f;
    b = q[1];
    r |= (b & 0x7f) << 7;
    if (b < 0x80) {
        *p = q + 2;
        *v = r;
        return 1;
    }
    b = q[2];
    r |= (b & 0x7f) << 14;
    if (b < 0x80) { /* most address deltas */
        *p = q + 3;
        *v = r;
        return 1;
    }
    for (unsigned i = 3, shift = 21; i < 10; i++, shift += 7) {
        b = q[i];
        if (shift == 63 && b > 1)
            return 0;
        r |= (b & 0x7f) << shift;
        if (b < 0x80) {
            *p = q + i + 1;
            *v = r;
            return 1;
        }
    }
    return 0;
}

/* ALLOC, FREE and THREAD_SWITCH, nearly every record of a capture, decoded without the
 * general machinery when the window surely holds the whole record. Returns 1 when it decoded one, 0 to let
 * the general path decode (and judge) it. The checks are those of parse_record. */
static int fast_record(memtap_decoder_t *d, memtap_event_t *ev) {
    const uint8_t *p = d->win + d->pos, *q = p + 1;
    uint8_t type = *p;
    uint64_t delta, size, node;
    if ((type & 0xf0) == MEMTAP_REC_ALLOC) {
        if (!fast_varint(&q, &delta) || !fast_varint(&q, &size) || !fast_varint(&q, &node) ||
            (type & 0x0f) > d->max_kind || node > d->nodes || size > MAX_BLOCK)
            return 0;
        ev->type = MEMTAP_EV_ALLOC;
        ev->u.alloc.kind = type & 0x0f;
        ev->u.alloc.addr = d->last_addr + (uint64_t)memtap_unzigzag(delta);
        ev->u.alloc.size = size;
        ev->u.alloc.node = (uint32_t)node;
        d->last_addr = ev->u.alloc.addr;
        d->allocations++;
    } else if (type == MEMTAP_REC_FREE) {
        if (!fast_varint(&q, &delta))
            return 0;
        ev->type = MEMTAP_EV_FREE;
        ev->u.free.addr = d->last_addr + (uint64_t)memtap_unzigzag(delta);
        ev->u.free.len = 0;
        d->last_addr = ev->u.free.addr;
        d->frees++;
    } else if (type == MEMTAP_REC_THREAD_SWITCH) { /* frequent when threads interleave */
        uint64_t idx;
        if (!fast_varint(&q, &idx) || idx == 0 || idx > d->threads)
            return 0;
        ev->type = MEMTAP_EV_THREAD_SWITCH;
        ev->u.thread.index = (uint32_t)idx;
    } else {
        return 0;
    }
    ev->offset = d->win_offset + d->pos;
    d->pos = (size_t)(q - d->win);
    return 1;
}

/* --- version 3: chunks, put back in order by reader/merge.c ------------------------------ */

/* A top-level record of a v3 frame: only CHUNKs, whose records go to their source. */
static void parse_chunk(memtap_decoder_t *d, cursor_t *c) {
    if (get_byte(c) != MEMTAP_REC_CHUNK) {
        if (!c->status)
            bad(c, "a version 3 frame holds only chunks after its header");
        return;
    }
    uint64_t source = get_varint(c, "chunk source");
    uint64_t watermark = get_varint(c, "chunk watermark");
    size_t n = 0;
    const uint8_t *p = get_bytes(c, &n, MEMTAP_MAX_CHUNK, "chunk too long");
    if (c->status)
        return;
    if (d->state == AFTER_TRAILER)
        return bad(c, "chunk after the trailer");
    if (source > UINT32_MAX)
        return bad(c, "chunk source out of range");
    const char *why = "out of memory";
    int rc = memtap_merge_add(&d->merge, (uint32_t)source, watermark, p, n,
                              d->win_offset + (uint64_t)(p - d->win), &why);
    if (rc != MEMTAP_OK)
        bad(c, why);
}

static int is_thread_record(uint8_t type) {
    return (type & 0xf0) == MEMTAP_REC_ALLOC || (type & 0xf0) == MEMTAP_REC_ALLOC_SAME ||
           type == MEMTAP_REC_FREE || type == MEMTAP_REC_MUNMAP;
}

/* A thread's next ALLOC or FREE (and the SKIP before it) decoded without the general
 * machinery, from p which surely holds it (48 bytes). Returns its length with ev filled and
 * *key moved to the record's key, or 0 to leave it to the general path (which judges it).
 * The node is checked when the record is released. */
static inline __attribute__((always_inline)) size_t
fast_thread_record(const memtap_decoder_t *d, const uint8_t *p, const memtap_msrc_t *s,
                   uint64_t *key, memtap_event_t *ev) {
    const uint8_t *start = p, *q = p + 1;
    uint64_t k = *key, delta, size, node;
    if (*p == MEMTAP_REC_SKIP) { /* threads interleaving: most records have one */
        if (!fast_varint(&q, &delta) || delta > (UINT64_MAX >> 2) - k)
            return 0;
        k += delta;
        p = q++;
    }
    uint8_t type = *p;
    if ((type & 0xd0) == MEMTAP_REC_ALLOC) { /* ALLOC 0x1k, ALLOC_SAME 0x3k */
        node = s->last_node;
        if (!fast_varint(&q, &delta) || !fast_varint(&q, &size) ||
            (type < MEMTAP_REC_ALLOC_SAME && !fast_varint(&q, &node)) ||
            (type & 0x0f) > d->max_kind || node > UINT32_MAX || size > MAX_BLOCK)
            return 0;
        ev->type = MEMTAP_EV_ALLOC;
        ev->u.alloc.kind = type & 0x0f;
        ev->u.alloc.addr = s->last_addr + (uint64_t)memtap_unzigzag(delta);
        ev->u.alloc.size = size;
        ev->u.alloc.node = (uint32_t)node;
    } else if (type == MEMTAP_REC_FREE) {
        if (!fast_varint(&q, &delta))
            return 0;
        ev->type = MEMTAP_EV_FREE;
        ev->u.free.addr = s->last_addr + (uint64_t)memtap_unzigzag(delta);
        ev->u.free.len = 0;
    } else {
        return 0;
    }
    ev->offset = UINT64_MAX; /* found again from the queue if an error needs it */
    *key = k;
    return (size_t)(q - start);
}

/* The merge's peek: source `id`'s next record, SKIPs before it applied to a copy of its key.
 * Source 0 holds the process's records, a thread's source only ALLOC, FREE and MUNMAP. */
static int peek_source(void *ctx, uint32_t id, memtap_msrc_t *s) {
    memtap_decoder_t *d = ctx;
    const uint8_t *start = s->buf + s->pos, *end = s->buf + s->len;
    cursor_t c = {start, end, PARSE_OK, NULL};
    uint64_t key = s->key;
    s->peeked = 1;
    s->has_next = 0;
    size_t n;
    if (id && s->len - s->pos >= 48 &&
        (n = fast_thread_record(d, start, s, &key, &s->next)) != 0) {
        int is_free = s->next.type == MEMTAP_EV_FREE;
        s->next_pos = 2 * key + (uint64_t)is_free;
        s->key_after = key + (uint64_t)is_free;
        s->next_len = n;
        s->has_next = 1;
        return MEMTAP_OK;
    }
    for (;;) {
        const uint8_t *rec = c.p;
        uint64_t at = memtap_merge_offset(s, (size_t)(rec - s->buf));
        s->next_pos = 2 * key; /* least position of what follows, whole or not */
        if (rec == end)
            return MEMTAP_OK;
        if (*rec == MEMTAP_REC_SKIP) {
            c.p++;
            uint64_t skip = get_varint(&c, "order key");
            if (c.status == PARSE_MORE)
                return MEMTAP_OK;
            if (c.status || skip > (UINT64_MAX >> 2) - key)
                return fail(d, MEMTAP_ERR_CORRUPT, at, "order key out of range");
            key += skip;
            continue;
        }
        if ((id == 0) == is_thread_record(*rec) || *rec == MEMTAP_REC_THREAD_SWITCH ||
            *rec == MEMTAP_REC_CHUNK)
            return fail(d, MEMTAP_ERR_CORRUPT, at, "record type 0x%02x in the records of %s",
                        *rec, id ? "a thread" : "the process");
        memset(&s->next, 0, sizeof s->next);
        d->last_addr = s->last_addr;
        d->last_node = s->last_node;
        parse_record(d, &c, &s->next);
        if (c.status == PARSE_MORE)
            return MEMTAP_OK;
        if (c.status == PARSE_BAD)
            return fail(d, MEMTAP_ERR_CORRUPT, at, "%s (record type 0x%02x)", c.why, *rec);
        int is_free = *rec == MEMTAP_REC_FREE || *rec == MEMTAP_REC_MUNMAP;
        s->next.offset = at;
        s->next_pos = 2 * key + (uint64_t)is_free;
        s->key_after = key + (uint64_t)is_free;
        s->next_len = (size_t)(c.p - start);
        s->has_next = 1;
        return MEMTAP_OK;
    }
}

/* Where source s's next record starts (the fast path leaves it to be found on error). */
static uint64_t record_offset(memtap_msrc_t *s) {
    return s->next.offset != UINT64_MAX ? s->next.offset : memtap_merge_offset(s, s->pos);
}

/* The next record in position order: 1 with ev filled, 0 when more chunks must be read
 * first (or nothing is left), or an error code (negative). */
static int merged_event(memtap_decoder_t *d, memtap_event_t *ev) {
    uint32_t id;
    int rc = memtap_merge_pick(&d->merge, peek_source, d, &id);
    if (rc != MEMTAP_OK)
        return d->error[0] ? -rc : -MEMTAP_ERR_NOMEM;
    if (id == UINT32_MAX)
        return 0;
    memtap_msrc_t *s = &d->merge.src[id];
    if (s->next_pos < d->merge.last_pos)
        return -fail(d, MEMTAP_ERR_CORRUPT, record_offset(s),
                     "record out of order (below an earlier chunk's watermark)");
    /* A killed program may leave a thread's chunk in the file while the process's records
     * it needs (its THREAD, its stack nodes) were still in memory: what is left of a cut
     * frame is replayed without them, with no stack. In a whole frame it is corruption. */
    int cut = d->merge_closed && !d->frame_end;
    if (id != 0 && id != d->merged_thread) { /* (replay needs no THREAD_SWITCH) */
        if (id > d->threads && !cut)
            return -fail(d, MEMTAP_ERR_CORRUPT, record_offset(s),
                         "records of thread %u before its THREAD record", id);
        d->merged_thread = id;
    }
    if (d->state == AFTER_TRAILER)
        return -fail(d, MEMTAP_ERR_CORRUPT, record_offset(s), "record after the trailer");
    if (s->next.type == MEMTAP_EV_ALLOC && s->next.u.alloc.node > d->nodes && !cut)
        return -fail(d, MEMTAP_ERR_CORRUPT, record_offset(s),
                     "allocation names a stack node not yet defined");
    *ev = s->next;
    if (ev->type == MEMTAP_EV_ALLOC) {
        s->last_addr = ev->u.alloc.addr;
        s->last_node = ev->u.alloc.node;
        if (ev->u.alloc.node > d->nodes)
            ev->u.alloc.node = 0;
    } else if (ev->type == MEMTAP_EV_FREE || ev->type == MEMTAP_EV_MUNMAP)
        s->last_addr = ev->u.free.addr;
    uint64_t pos = s->next_pos;
    memtap_merge_release(&d->merge, id);
    /* the same thread's next records may skip the merge while below its bound (the bound
     * only rises as chunks arrive); a record of the process's ends that */
    d->fast_id = 0;
    if (id && d->merge.bound_valid && d->merge.current == id &&
        (d->merge.bound_pos > 0 || id < d->merge.bound_src)) {
        d->fast_id = id;
        d->fast_limit = d->merge.bound_pos - (id > d->merge.bound_src ? 1 : 0);
    }
    rc = commit(d, ev);
    if (rc == MEMTAP_OK && ev->type == MEMTAP_EV_THREAD)
        rc = memtap_merge_announce(&d->merge, ev->u.thread.index, pos);
    if (rc == MEMTAP_ERR_CORRUPT)
        return -fail(d, rc, ev->offset, "too many threads");
    return rc == MEMTAP_OK ? 1 : -rc;
}

/* ALLOC and FREE of the thread the merge released from last, while they stay below the
 * bound the merge computed (merge.h), decoded without the general machinery. Returns 1 when
 * it delivered one, 0 to let merged_event decide (and judge). Checks are parse_record's and
 * merged_event's. */
static int fast_merged(memtap_decoder_t *d, memtap_event_t *ev) {
    memtap_merge_t *m = &d->merge;
    uint32_t id = d->fast_id;
    if (!id)
        return 0;
    memtap_msrc_t *s = &m->src[id];
    if (s->peeked || s->len - s->pos < 48)
        return 0;
    uint64_t key = s->key;
    size_t n = fast_thread_record(d, s->buf + s->pos, s, &key, ev);
    if (!n)
        return 0;
    int is_free = ev->type == MEMTAP_EV_FREE;
    uint64_t pos = 2 * key + (uint64_t)is_free; /* never below the thread's last: keys grow */
    if (pos > d->fast_limit || (!is_free && ev->u.alloc.node > d->nodes)) {
        /* another source goes first: the merge takes this record as parsed */
        s->next = *ev;
        s->next_pos = pos;
        s->key_after = key + (uint64_t)is_free;
        s->next_len = n;
        s->peeked = s->has_next = 1;
        d->fast_id = 0;
        return 0;
    }
    if (is_free) {
        s->last_addr = ev->u.free.addr;
        d->frees++;
    } else {
        s->last_addr = ev->u.alloc.addr;
        s->last_node = ev->u.alloc.node;
        d->allocations++;
    }
    s->pos += n;
    s->key = key + (uint64_t)is_free;
    m->pending -= n;
    m->last_pos = pos;
    return 1;
}

static int next_event(memtap_decoder_t *d, memtap_event_t *ev);

/* Nearly every event comes from a fast path; the general one is out of line, so this stays
 * small (the big function's register saving cost ~15% of reading). */
int memtap_decoder_next(memtap_decoder_t *d, memtap_event_t *ev) {
    if (d->version >= 3) {
        if (fast_merged(d, ev))
            return MEMTAP_OK;
    } else if (d->state == IN_FRAME && d->len - d->pos >= 32 && !d->done && fast_record(d, ev)) {
        return MEMTAP_OK;
    }
    return next_event(d, ev);
}

__attribute__((noinline)) static int next_event(memtap_decoder_t *d, memtap_event_t *ev) {
    if (d->done)
        return d->error[0] ? MEMTAP_ERR_CORRUPT : MEMTAP_OK;
    for (;;) {
        if (d->version >= 3 && d->state != EXPECT_HEADER) {
            int r = merged_event(d, ev);
            if (r < 0)
                return -r;
            if (r > 0)
                return MEMTAP_OK;
        }
        if (d->pos == d->len) {
            if ((d->frame_end || d->eof) && d->version >= 3 && d->state != EXPECT_HEADER &&
                !d->merge_closed) {
                memtap_merge_close(&d->merge); /* release all that is left, then end */
                d->merge_closed = 1;
                continue;
            }
            if (d->frame_end) { /* the frame is over: it must have ended properly */
                uint64_t at = d->win_offset + d->pos;
                if (d->version >= 3 && d->merge.pending)
                    return fail(d, MEMTAP_ERR_CORRUPT, at, "record cut short by the end of its frame");
                if (d->state == EXPECT_HEADER)
                    return fail(d, MEMTAP_ERR_CORRUPT, at, "empty frame");
                if (d->state != AFTER_TRAILER)
                    return fail(d, MEMTAP_ERR_CORRUPT, at, "frame ends without a trailer");
                d->state = EXPECT_HEADER;
                d->frame_end = 0;
            }
            if (!d->eof) {
                int rc = fill(d);
                if (rc != MEMTAP_OK)
                    return rc;
                continue;
            }
            if (d->frames == 0)
                return fail(d, MEMTAP_ERR_CORRUPT, 0,
                            d->src.file_size ? "no memtap records (the program ended before any "
                                               "were written)"
                                             : "empty file");
            ev->type = MEMTAP_EV_END;
            ev->offset = d->win_offset + d->pos;
            ev->u.end.complete = !d->src.in_frame && d->state == EXPECT_HEADER;
            d->done = 1;
            return MEMTAP_OK;
        }
        cursor_t c = {d->win + d->pos, d->win + d->len, PARSE_OK, NULL};
        memset(ev, 0, sizeof *ev);
        ev->offset = d->win_offset + d->pos;
        if (d->state == EXPECT_HEADER)
            parse_header(d, &c, ev);
        else if (d->version >= 3)
            parse_chunk(d, &c);
        else
            parse_record(d, &c, ev);
        if (c.status == PARSE_BAD)
            return fail(d, MEMTAP_ERR_CORRUPT, ev->offset, "%s (record type 0x%02x)", c.why,
                        d->win[d->pos]);
        if (c.status == PARSE_MORE) {
            if (d->frame_end)
                return fail(d, MEMTAP_ERR_CORRUPT, ev->offset, "record cut short by the end of its frame");
            if (d->eof) { /* the file ends inside this record: the program was killed */
                ev->type = MEMTAP_EV_END;
                ev->u.end.complete = 0;
                d->done = 1;
                return MEMTAP_OK;
            }
            if (d->len - d->pos >= WIN_SIZE / 2)
                return fail(d, MEMTAP_ERR_CORRUPT, ev->offset, "record larger than any valid record");
            int rc = fill(d);
            if (rc != MEMTAP_OK)
                return rc;
            continue;
        }
        if (ev->type == MEMTAP_EV_HEADER && ev->u.header.version > MEMTAP_FORMAT_VERSION)
            return fail(d, MEMTAP_ERR_VERSION, ev->offset,
                        "capture format version %u is newer than this memtap reads (%u): "
                        "upgrade memtap",
                        ev->u.header.version, MEMTAP_FORMAT_VERSION);
        d->pos = (size_t)(c.p - d->win);
        if (d->version >= 3 && d->state != EXPECT_HEADER)
            continue; /* a chunk: its records come out of the merge */
        return commit(d, ev);
    }
}
