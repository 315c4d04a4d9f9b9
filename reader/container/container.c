/* The container index (container.h): pieces found by their headers and their LZ4 frames'
 * block headers, streams gathered from pieces, each stream's image header read from the
 * start of its first piece, streams linked into processes, processes into a tree. May call:
 * liblz4's LZ4F API, records.c's header parser (decoder_internal.h), include/memtap. */
#include "container/container.h"

#include <errno.h>
#include <fcntl.h>
#include <lz4frame.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "decode/decoder_internal.h"
#include "memtap/container.h"
#include "memtap/hashtab.h"
#include "memtap/varint.h"

#define LZ4_MAGIC 0x184D2204u
#define SKIPPABLE_MASK 0xFFFFFFF0u
#define SKIPPABLE_BASE 0x184D2A50u
#define PEEK_SIZE 4096u         /* bytes read around a header */
#define HEADER_IN (32u << 10)   /* compressed bytes read at a time for an image header */
#define HEADER_OUT (192u << 10) /* more than the largest image header (two 64 KiB strings) */
#define COMMAND_MAX 4096u       /* bytes of a process's command line kept */
#define COMMAND_SHORT 64u       /* ... once COMMANDS_BUDGET bytes of them are kept */
#define COMMANDS_BUDGET (64u << 20)

/* stream id -> index + 1; pid -> index + 1 of the latest process with that pid */
typedef struct {
    uint64_t key;
    uint32_t index1; /* 0: empty slot */
} id_slot_t;
typedef MEMTAP_HASHTAB(id_slot_t) id_map_t;

#define MEMTAP_HT_NAME id_map
#define MEMTAP_HT_TABLE id_map_t
#define MEMTAP_HT_SLOT id_slot_t
#define MEMTAP_HT_KEY uint64_t
#define MEMTAP_HT_HASH(k) memtap_hash2((k), 0x6d746170u)
#define MEMTAP_HT_SLOT_HASH(s) memtap_hash2((s)->key, 0x6d746170u)
#define MEMTAP_HT_EMPTY(s) ((s)->index1 == 0)
#define MEMTAP_HT_MATCH(s, k) ((s)->key == (k))
#define MEMTAP_HT_ALLOC(bytes) calloc(1, (bytes))
#define MEMTAP_HT_FREE(p, bytes) free(p)
#include "memtap/hashtab.h"

/* The pass's state: a small window over the file for headers, and what reads image
 * headers. */
typedef struct {
    memtap_container_t *c;
    uint8_t peek[PEEK_SIZE];
    uint64_t peek_at;
    size_t peek_len;
    id_map_t ids, pids;
    LZ4F_dctx *dctx;
    uint8_t *in, *out;
    size_t in_cap;
    size_t command_bytes; /* kept in processes' commands */
} ix_t;

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int fail(memtap_container_t *c, int code, uint64_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(memtap_container_t *c, int code, uint64_t at, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (code == MEMTAP_ERR_CORRUPT)
        snprintf(c->error, sizeof c->error, "corrupt capture at byte %llu: %s",
                 (unsigned long long)at, msg);
    else
        snprintf(c->error, sizeof c->error, "%s", msg);
    return code;
}

/* Up to n (<= 64) bytes of the file at `at`: a pointer to them, *got how many there are
 * (fewer at the file's end). NULL on a read error. */
static const uint8_t *peek(int fd, uint64_t size, uint8_t *buf, uint64_t *buf_at, size_t *buf_len,
                           uint64_t at, size_t n, size_t *got) {
    if (at >= size) {
        *got = 0;
        return buf;
    }
    if (at < *buf_at || at + n > *buf_at + *buf_len) {
        size_t want = PEEK_SIZE;
        if (size - at < want)
            want = (size_t)(size - at);
        ssize_t r = want ? pread(fd, buf, want, (off_t)at) : 0;
        if (r < 0)
            return NULL;
        *buf_at = at;
        *buf_len = (size_t)r;
    }
    size_t have = (size_t)(*buf_at + *buf_len - at);
    *got = have < n ? have : n;
    return buf + (at - *buf_at);
}

typedef struct {
    int fd;
    uint64_t size;
    uint8_t *buf;
    uint64_t *buf_at;
    size_t *buf_len;
} reader_t;

/* See memtap_lz4_frame_walk; *bad_at gets the offset of what is wrong. */
static int walk(const reader_t *r, uint64_t at, uint64_t *end, const char **why, uint64_t *bad_at) {
    size_t got;
    *bad_at = at;
    const uint8_t *p = peek(r->fd, r->size, r->buf, r->buf_at, r->buf_len, at, 7, &got);
    if (!p) {
        *why = strerror(errno);
        return -2;
    }
    *end = r->size;
    if (got >= 4 && le32(p) != LZ4_MAGIC) {
        *why = "a piece header without its LZ4 frame";
        return -1;
    }
    if (got < 7)
        return 0;
    uint8_t flg = p[4], bd = p[5];
    if ((flg >> 6) != 1 || (flg & 0x02) || (bd & 0x8f) || ((bd >> 4) & 7) < 4) {
        *why = "LZ4 frame descriptor not valid";
        return -1;
    }
    uint64_t max_block = 1ull << (8 + 2 * ((bd >> 4) & 7));
    uint64_t block_sum = flg & 0x10 ? 4 : 0, content_sum = flg & 0x04 ? 4 : 0;
    uint64_t pos = at + 7 + (flg & 0x08 ? 8 : 0) + (flg & 0x01 ? 4 : 0);
    for (;;) {
        if (pos > r->size)
            return 0;
        p = peek(r->fd, r->size, r->buf, r->buf_at, r->buf_len, pos, 4, &got);
        if (!p) {
            *why = strerror(errno);
            return -2;
        }
        if (got < 4)
            return 0;
        uint32_t v = le32(p);
        if (v == 0) { /* the end mark */
            pos += 4 + content_sum;
            if (pos > r->size)
                return 0;
            *end = pos;
            return 1;
        }
        if ((v & 0x7fffffffu) > max_block) {
            *bad_at = pos;
            *why = "LZ4 block larger than its LZ4 frame allows";
            return -1;
        }
        pos += 4 + (v & 0x7fffffffu) + block_sum;
    }
}

int memtap_lz4_frame_walk(int fd, uint64_t file_size, uint64_t at, uint64_t *end,
                          const char **why) {
    uint8_t buf[PEEK_SIZE];
    uint64_t buf_at = 0, bad_at;
    size_t buf_len = 0;
    reader_t r = {fd, file_size, buf, &buf_at, &buf_len};
    int rc = walk(&r, at, end, why, &bad_at);
    return rc < -1 ? -1 : rc;
}

/* A new piece of stream `id` at `at` (its LZ4 frame at `frame`), checked against the
 * stream's earlier pieces. */
static int add_piece(ix_t *x, uint64_t at, uint64_t frame, uint64_t id, uint64_t flags,
                     uint64_t pid, uint64_t status) {
    memtap_container_t *c = x->c;
    unsigned long long sid = (unsigned long long)id;
    if (id == 0)
        return fail(c, MEMTAP_ERR_CORRUPT, at, "piece of stream 0 (streams count from 1)");
    if ((flags & MEMTAP_PIECE_KILLED) && !(flags & MEMTAP_PIECE_LAST))
        return fail(c, MEMTAP_ERR_CORRUPT, at, "KILLED piece of stream %llu is not its last", sid);
    if (status > MEMTAP_PIECE_MAX_STATUS || (status && !(flags & MEMTAP_PIECE_KILLED)))
        return fail(c, MEMTAP_ERR_CORRUPT, at, "piece of stream %llu has status %llu%s", sid,
                    (unsigned long long)status,
                    status > MEMTAP_PIECE_MAX_STATUS ? "" : " without KILLED");
    if (c->pieces.n >= MEMTAP_MAX_PIECES)
        return fail(c, MEMTAP_ERR_CORRUPT, at, "more than %u pieces", MEMTAP_MAX_PIECES);
    if ((flags & MEMTAP_PIECE_FIRST) && c->streams.n >= MEMTAP_MAX_STREAMS)
        return fail(c, MEMTAP_ERR_CORRUPT, at, "more than %u images", MEMTAP_MAX_STREAMS);
    int found;
    id_slot_t *slot = id_map_upsert(&x->ids, id, &found);
    if (!slot || VEC_RESERVE(c->pieces, 1) < 0 || VEC_RESERVE(c->streams, 1) < 0)
        return fail(c, MEMTAP_ERR_NOMEM, at, "out of memory");
    uint32_t piece = (uint32_t)c->pieces.n;
    memtap_stream_t *s;
    if (!found) {
        if (!(flags & MEMTAP_PIECE_FIRST)) {
            slot->index1 = UINT32_MAX; /* filled: the table stays consistent until freed */
            return fail(c, MEMTAP_ERR_CORRUPT, at, "piece of stream %llu before its first piece",
                        sid);
        }
        *slot = (id_slot_t){id, (uint32_t)c->streams.n + 1};
        s = &c->streams.v[c->streams.n++];
        memset(s, 0, sizeof *s);
        s->id = id;
        s->pid = pid;
        s->at = at;
        s->first = piece;
        s->flags = (unsigned)flags & MEMTAP_PIECE_ROOT;
        s->process = s->next_image = MEMTAP_NONE;
    } else {
        s = &c->streams.v[slot->index1 - 1];
        if (flags & MEMTAP_PIECE_FIRST)
            return fail(c, MEMTAP_ERR_CORRUPT, at, "stream %llu starts twice", sid);
        if (s->flags & MEMTAP_PIECE_LAST)
            return fail(c, MEMTAP_ERR_CORRUPT, at, "piece of stream %llu after its last piece",
                        sid);
        if (pid != s->pid)
            return fail(c, MEMTAP_ERR_CORRUPT, at,
                        "piece of stream %llu names pid %llu, its first piece %llu", sid,
                        (unsigned long long)pid, (unsigned long long)s->pid);
        if ((flags ^ s->flags) & MEMTAP_PIECE_ROOT)
            return fail(c, MEMTAP_ERR_CORRUPT, at, "pieces of stream %llu disagree on ROOT", sid);
        c->pieces.v[s->last].next = piece;
    }
    s->last = piece;
    s->flags |= (unsigned)flags & (MEMTAP_PIECE_FIRST | MEMTAP_PIECE_LAST | MEMTAP_PIECE_KILLED);
    s->status = (uint32_t)status;
    c->pieces.v[c->pieces.n++] = (memtap_piece_t){frame, (uint32_t)(s - c->streams.v), MEMTAP_NONE};
    return MEMTAP_OK;
}

/* The piece header's payload after "MTAP": exactly four varints. */
static int parse_payload(const uint8_t *p, const uint8_t *end, uint64_t v[4]) {
    for (int i = 0; i < 4; i++)
        if (memtap_varint_get(&p, end, &v[i]) != 1)
            return -1;
    return p == end ? 0 : -1;
}

static int lz4_without_piece(ix_t *x, uint64_t at);

/* The piece, or other LZ4 skippable frame, at *at. Returns MEMTAP_OK with *at past it, 1 when
 * the file ends inside it, or an error. */
static int index_one(ix_t *x, uint64_t *at) {
    memtap_container_t *c = x->c;
    reader_t r = {c->fd, c->file_size, x->peek, &x->peek_at, &x->peek_len};
    size_t got;
    uint64_t off = *at;
    const uint8_t *p = peek(c->fd, c->file_size, x->peek, &x->peek_at, &x->peek_len, off,
                            8 + MEMTAP_PIECE_MAX_PAYLOAD, &got);
    if (!p)
        return fail(c, MEMTAP_ERR_IO, off, "%s", strerror(errno));
    static const uint8_t magic[4] = {0x5e, 0x2a, 0x4d, 0x18};
    if (got < 4 && !memcmp(p, magic, got))
        return 1; /* a piece header cut short */
    uint32_t m = got >= 4 ? le32(p) : 0;
    if (m == LZ4_MAGIC)
        return lz4_without_piece(x, off);
    if (got < 4 || (m & SKIPPABLE_MASK) != SKIPPABLE_BASE) {
        if (off == 0) {
            snprintf(c->error, sizeof c->error, "not a memtap capture (no piece at byte 0)");
            return MEMTAP_ERR_CORRUPT;
        }
        return fail(c, MEMTAP_ERR_CORRUPT, off,
                    "expected a piece header, found bytes "
                    "%02x %02x %02x %02x",
                    p[0], got > 1 ? p[1] : 0, got > 2 ? p[2] : 0, got > 3 ? p[3] : 0);
    }
    if (got < 8)
        return 1;
    uint64_t n = le32(p + 4);
    if (off + 8 + n > c->file_size)
        return 1;
    if (m != MEMTAP_PIECE_MAGIC || n < 4 || memcmp(p + 8, MEMTAP_PIECE_TAG, 4)) {
        *at = off + 8 + n; /* someone else's LZ4 skippable frame: skipped */
        return MEMTAP_OK;
    }
    uint64_t v[4];
    if (n > MEMTAP_PIECE_MAX_PAYLOAD || parse_payload(p + 12, p + 8 + n, v) < 0)
        return fail(c, MEMTAP_ERR_CORRUPT, off, "malformed piece header");
    uint64_t frame = off + 8 + n, end;
    int rc = add_piece(x, off, frame, v[0], v[1], v[2], v[3]);
    if (rc != MEMTAP_OK)
        return rc;
    const char *why;
    uint64_t bad_at;
    rc = walk(&r, frame, &end, &why, &bad_at);
    if (rc == -2)
        return fail(c, MEMTAP_ERR_IO, bad_at, "%s", why);
    if (rc < 0)
        return fail(c, MEMTAP_ERR_CORRUPT, bad_at, "%s", why);
    if (rc == 0)
        return 1;
    memtap_stream_t *s = &c->streams.v[c->pieces.v[c->pieces.n - 1].stream];
    if (v[1] & MEMTAP_PIECE_LAST)
        s->whole = 1;
    *at = end;
    return MEMTAP_OK;
}

/* Decompresses the LZ4 frame at `frame`, after the `*out` bytes already in x->out, until ev
 * holds the image header. Returns MEMTAP_OK with *have 1 (ev: the header) or 0 (the file
 * ends first), 1 when the LZ4 frame ends first, or an error. */
static int header_from(ix_t *x, uint64_t frame, size_t *out, memtap_event_t *ev, int *have) {
    memtap_container_t *c = x->c;
    LZ4F_resetDecompressionContext(x->dctx);
    size_t in_len = 0, in_pos = 0;
    uint64_t in_at = frame;
    for (;;) {
        if (in_pos == in_len) {
            in_at += in_len;
            ssize_t r = pread(c->fd, x->in, x->in_cap, (off_t)in_at);
            if (r < 0)
                return fail(c, MEMTAP_ERR_IO, in_at, "%s", strerror(errno));
            if (r == 0)
                return MEMTAP_OK; /* cut short: no header */
            in_len = (size_t)r;
            in_pos = 0;
        }
        size_t dst = HEADER_OUT - *out, src = in_len - in_pos;
        size_t hint = LZ4F_decompress(x->dctx, x->out + *out, &dst, x->in + in_pos, &src, NULL);
        if (LZ4F_isError(hint))
            return fail(c, MEMTAP_ERR_CORRUPT, in_at + in_pos, "%s", LZ4F_getErrorName(hint));
        in_pos += src;
        *out += dst;
        cursor_t cur = {x->out, x->out + *out, PARSE_OK, NULL};
        dec_parse_header(&cur, ev);
        if (cur.status == PARSE_BAD)
            return fail(c, MEMTAP_ERR_CORRUPT, frame, "%s", cur.why);
        if (cur.status == PARSE_OK) {
            if (ev->u.header.version != MEMTAP_FORMAT_VERSION)
                return fail(c, MEMTAP_ERR_VERSION, frame,
                            "capture format version %u, this memtap reads version %u",
                            ev->u.header.version, MEMTAP_FORMAT_VERSION);
            *have = 1;
            return MEMTAP_OK;
        }
        if (hint == 0 || *out == HEADER_OUT)
            return 1;
    }
}

/* The image header at the start of stream s (in its first piece, as the collector writes
 * it, or over several). *have 0: the file ends first. */
static int read_header(ix_t *x, const memtap_stream_t *s, memtap_event_t *ev, int *have) {
    memtap_container_t *c = x->c;
    size_t out = 0;
    memset(ev, 0, sizeof *ev);
    *have = 0;
    for (uint32_t p = s->first; p != MEMTAP_NONE; p = c->pieces.v[p].next) {
        int rc = header_from(x, c->pieces.v[p].frame, &out, ev, have);
        if (rc != 1)
            return rc;
    }
    if (!s->whole)
        return MEMTAP_OK; /* the rest never came */
    return fail(c, MEMTAP_ERR_CORRUPT, c->pieces.v[s->first].frame,
                "stream %llu ends before its image header does", (unsigned long long)s->id);
}

/* An LZ4 frame where a piece header belongs. A capture of an older version is one (it had
 * no pieces): its header's version is named. */
static int lz4_without_piece(ix_t *x, uint64_t at) {
    memtap_event_t ev;
    int have;
    size_t out = 0;
    if (at == 0) {
        int rc = header_from(x, 0, &out, &ev, &have);
        if (rc != MEMTAP_OK && rc != 1)
            return rc;
    }
    return fail(x->c, MEMTAP_ERR_CORRUPT, at, "LZ4 frame without a piece header");
}

/* A command line (NUL-separated arguments) joined by spaces, at most max bytes. */
static char *join_command(const char *s, size_t n, const char *exe, size_t exe_len, size_t max) {
    if (n == 0 || (n == 1 && !s[0])) {
        s = exe;
        n = exe_len;
    }
    if (n > max)
        n = max;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++)
        out[i] = s[i] ? s[i] : ' ';
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
    return out;
}

/* Stream s (the next in order) joins its process: the latest with its pid when it continues
 * one (AFTER_EXEC, CONTINUED, or no header to say), else a new one. */
static int link_stream(ix_t *x, uint32_t si, const memtap_event_t *h) {
    memtap_container_t *c = x->c;
    memtap_stream_t *s = &c->streams.v[si];
    uint64_t pid = s->has_header ? s->header_pid : s->pid;
    id_slot_t *slot = id_map_find(&x->pids, pid);
    int continues =
        !s->has_header || (s->header_flags & (MEMTAP_HDR_AFTER_EXEC | MEMTAP_HDR_CONTINUED));
    memtap_process_t *p;
    if (continues && slot) {
        p = &c->processes.v[slot->index1 - 1];
        c->streams.v[p->last].next_image = si;
        p->last = si;
        p->images++;
    } else {
        if (VEC_RESERVE(c->processes, 1) < 0)
            return fail(c, MEMTAP_ERR_NOMEM, s->at, "out of memory");
        id_slot_t *parent = s->has_header ? id_map_find(&x->pids, s->ppid) : NULL;
        p = &c->processes.v[c->processes.n++];
        memset(p, 0, sizeof *p);
        p->pid = pid;
        p->ppid = s->has_header ? s->ppid : 0;
        p->start_unix_ns = s->has_header ? s->start_unix_ns : 0;
        p->first = p->last = si;
        p->images = 1;
        p->parent = parent ? parent->index1 - 1 : MEMTAP_NONE;
        p->depth = parent ? c->processes.v[p->parent].depth + 1 : 0;
        int found;
        slot = id_map_upsert(&x->pids, pid, &found);
        if (!slot)
            return fail(c, MEMTAP_ERR_NOMEM, s->at, "out of memory");
        *slot = (id_slot_t){pid, (uint32_t)c->processes.n};
    }
    uint32_t pi = slot->index1 - 1;
    s->process = pi;
    p->root |= (s->flags & MEMTAP_PIECE_ROOT) != 0;
    if (h) {
        /* a file of millions of processes keeps short commands: memory stays bounded */
        size_t max = x->command_bytes < COMMANDS_BUDGET ? COMMAND_MAX : COMMAND_SHORT;
        char *cmd = join_command(h->u.header.cmdline, h->u.header.cmdline_len, h->u.header.exe,
                                 h->u.header.exe_len, max);
        if (!cmd)
            return fail(c, MEMTAP_ERR_NOMEM, s->at, "out of memory");
        free(p->command);
        p->command = cmd;
        x->command_bytes += strlen(cmd) + 1;
    }
    return MEMTAP_OK;
}

/* For qsort: streams by id, the order the collector saw their images start (a stream's
 * first piece may come late in the file: it is written once it has gathered enough). */
static const memtap_stream_t *sort_streams;
static int by_stream_id(const void *a, const void *b) {
    uint64_t x = sort_streams[*(const uint32_t *)a].id, y = sort_streams[*(const uint32_t *)b].id;
    return (x > y) - (x < y);
}

/* Each stream's header, then its place among the processes, in the order of stream ids. */
static int build_processes(ix_t *x) {
    memtap_container_t *c = x->c;
    uint32_t *order = malloc((c->streams.n ? c->streams.n : 1) * sizeof *order);
    if (!order)
        return fail(c, MEMTAP_ERR_NOMEM, 0, "out of memory");
    for (uint32_t i = 0; i < c->streams.n; i++)
        order[i] = i;
    sort_streams = c->streams.v;
    qsort(order, c->streams.n, sizeof *order, by_stream_id);
    for (uint32_t k = 0; k < c->streams.n; k++) {
        uint32_t i = order[k];
        memtap_stream_t *s = &c->streams.v[i];
        memtap_event_t ev;
        int have;
        int rc = read_header(x, s, &ev, &have);
        if (rc != MEMTAP_OK) {
            free(order);
            return rc;
        }
        if (have) {
            s->has_header = 1;
            s->header_flags = ev.u.header.flags;
            s->header_pid = ev.u.header.pid;
            s->ppid = ev.u.header.ppid;
            s->start_unix_ns = ev.u.header.start_unix_ns;
        }
        rc = link_stream(x, i, s->has_header ? &ev : NULL);
        if (rc != MEMTAP_OK) {
            free(order);
            return rc;
        }
    }
    free(order);
    c->root = MEMTAP_NONE;
    for (uint32_t i = 0; i < c->processes.n; i++) {
        memtap_process_t *p = &c->processes.v[i];
        if (p->root && c->root == MEMTAP_NONE)
            c->root = i;
        p->complete = 1;
        for (uint32_t s = p->first; s != MEMTAP_NONE; s = c->streams.v[s].next_image)
            p->complete &= c->streams.v[s].whole && !(c->streams.v[s].flags & MEMTAP_PIECE_KILLED);
        const memtap_stream_t *last = &c->streams.v[p->last];
        p->killed = (last->flags & MEMTAP_PIECE_KILLED) != 0;
        p->signal = p->killed ? last->status : 0;
        if (!p->command && !(p->command = calloc(1, 1)))
            return fail(c, MEMTAP_ERR_NOMEM, 0, "out of memory");
    }
    return MEMTAP_OK;
}

static int index_file(ix_t *x) {
    memtap_container_t *c = x->c;
    if (c->file_size == 0)
        return fail(c, MEMTAP_ERR_CORRUPT, 0, "empty file");
    uint64_t at = 0;
    while (at < c->file_size) {
        int rc = index_one(x, &at);
        if (rc == 1) {
            c->cut = 1;
            break;
        }
        if (rc != MEMTAP_OK)
            return rc;
        c->end = at;
    }
    if (c->streams.n == 0)
        return fail(c, MEMTAP_ERR_CORRUPT, at,
                    "no memtap records (the program ended before any were written)");
    return build_processes(x);
}

int memtap_container_open(memtap_container_t **out, const char *path) {
    memtap_container_t *c = calloc(1, sizeof *c);
    *out = c;
    if (!c)
        return MEMTAP_ERR_NOMEM;
    c->fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (c->fd < 0 || fstat(c->fd, &st) != 0)
        return fail(c, MEMTAP_ERR_IO, 0, "%s", strerror(errno));
    if (S_ISDIR(st.st_mode))
        return fail(c, MEMTAP_ERR_IO, 0, "is a directory");
    c->file_size = (uint64_t)st.st_size;
    ix_t *x = calloc(1, sizeof *x);
    int rc = MEMTAP_ERR_NOMEM;
    if (x && !id_map_init(&x->ids, 64) && !id_map_init(&x->pids, 64) &&
        (x->in_cap = c->file_size < HEADER_IN ? (size_t)c->file_size + 1 : HEADER_IN) &&
        (x->in = malloc(x->in_cap)) && (x->out = malloc(HEADER_OUT)) &&
        !LZ4F_isError(LZ4F_createDecompressionContext(&x->dctx, LZ4F_VERSION))) {
        x->c = c;
        rc = index_file(x);
    } else {
        fail(c, rc, 0, "out of memory");
    }
    if (x) {
        id_map_destroy(&x->ids);
        id_map_destroy(&x->pids);
        if (x->dctx)
            LZ4F_freeDecompressionContext(x->dctx);
        free(x->in);
        free(x->out);
        free(x);
    }
    return rc;
}

void memtap_container_free(memtap_container_t *c) {
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    for (size_t i = 0; i < c->processes.n; i++)
        free(c->processes.v[i].command);
    free(c->pieces.v);
    free(c->streams.v);
    free(c->processes.v);
    free(c);
}

uint32_t memtap_container_find(const memtap_container_t *c, long long pid) {
    if (pid < 0)
        return c->root != MEMTAP_NONE ? c->root : c->processes.n ? 0 : MEMTAP_NONE;
    for (uint32_t i = 0; i < c->processes.n; i++)
        if (c->processes.v[i].pid == (uint64_t)pid)
            return i;
    return MEMTAP_NONE;
}
