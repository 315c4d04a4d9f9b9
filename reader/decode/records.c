/* The header and the process's records (source 0: modules, threads, stack nodes, Python
 * code, time markers, the image's end), parsed and checked field by field; and what a
 * released record changes in the image's state (counts, the trailer's check).
 * May call: decoder_internal.h, include/memtap (format, varint). */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "decode/decoder_internal.h"
#include "memtap/varint.h"

uint64_t dec_get_varint(cursor_t *c, const char *what) {
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

const uint8_t *dec_get_bytes(cursor_t *c, size_t *len, size_t max, const char *what) {
    uint64_t n = dec_get_varint(c, what);
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

/* A string field: bytes, at most MEMTAP_MAX_STRING of them. */
static const char *get_string(cursor_t *c, size_t *len, const char *what) {
    return (const char *)dec_get_bytes(c, len, MEMTAP_MAX_STRING, what);
}

void dec_bad(cursor_t *c, const char *why) {
    if (!c->status) {
        c->status = PARSE_BAD;
        c->why = why;
    }
}

void dec_parse_header(cursor_t *c, memtap_event_t *ev) {
    if ((size_t)(c->end - c->p) < MEMTAP_MAGIC_LEN + 2) {
        c->status = PARSE_MORE;
        return;
    }
    if (memcmp(c->p, MEMTAP_MAGIC, MEMTAP_MAGIC_LEN) != 0) {
        dec_bad(c, "image does not start with a memtap header (bad magic)");
        return;
    }
    c->p += MEMTAP_MAGIC_LEN;
    ev->type = MEMTAP_EV_HEADER;
    ev->u.header.version = c->p[0] | (unsigned)c->p[1] << 8;
    c->p += 2;
    if (ev->u.header.version != MEMTAP_FORMAT_VERSION)
        return; /* reported by the caller as a version error */
    ev->u.header.flags = (uint32_t)dec_get_varint(c, "header flags");
    ev->u.header.pid = dec_get_varint(c, "pid");
    ev->u.header.ppid = dec_get_varint(c, "ppid");
    ev->u.header.start_unix_ns = dec_get_varint(c, "start time");
    ev->u.header.page_size = dec_get_varint(c, "page size");
    ev->u.header.exe = get_string(c, &ev->u.header.exe_len, "executable path too long");
    ev->u.header.cmdline = get_string(c, &ev->u.header.cmdline_len, "command line too long");
}

static void parse_module(memtap_decoder_t *d, cursor_t *c, memtap_event_t *ev) {
    ev->type = MEMTAP_EV_MODULE;
    ev->u.module.path = get_string(c, &ev->u.module.path_len, "module path too long");
    ev->u.module.bias = dec_get_varint(c, "module bias");
    ev->u.module.build_id =
        dec_get_bytes(c, &ev->u.module.build_id_len, MEMTAP_MAX_BUILD_ID, "build-id too long");
    uint64_t nseg = dec_get_varint(c, "segment count");
    if (!c->status && nseg > MEMTAP_MAX_SEGMENTS)
        return dec_bad(c, "too many segments in a module");
    for (uint64_t i = 0; i < nseg && !c->status; i++) {
        d->segs[i].vaddr = dec_get_varint(c, "segment address");
        d->segs[i].memsz = dec_get_varint(c, "segment size");
        d->segs[i].flags = (uint32_t)dec_get_varint(c, "segment flags");
    }
    ev->u.module.nseg = (size_t)nseg;
    ev->u.module.segs = d->segs;
}

/* NODE and PY_NODE: the node's id is the image's next. */
static void parse_node(memtap_decoder_t *d, cursor_t *c, uint8_t type, memtap_event_t *ev) {
    ev->type = MEMTAP_EV_NODE;
    uint64_t up = dec_get_varint(c, "node parent");
    uint64_t delta = 0, code = 0, line = 0;
    if (type == MEMTAP_REC_NODE) {
        delta = dec_get_varint(c, "node frame");
    } else {
        code = dec_get_varint(c, "Python code id");
        line = dec_get_varint(c, "Python line");
    }
    if (c->status)
        return;
    if (type == MEMTAP_REC_PY_NODE &&
        (code == 0 || code > MEMTAP_PY_MAX_CODE || (line >> 1) >> MEMTAP_PY_LINE_BITS))
        return dec_bad(c, "Python frame out of range");
    uint64_t id = (uint64_t)d->nodes + 1;
    if (id >= UINT32_MAX)
        return dec_bad(c, "too many stack nodes");
    if (up == 0 || up > id)
        return dec_bad(c, "stack node parent out of range");
    ev->u.node.id = (uint32_t)id;
    ev->u.node.parent = (uint32_t)(id - up);
    ev->u.node.frame = type == MEMTAP_REC_PY_NODE
                           ? memtap_py_frame(code, (uint32_t)(line >> 1), (int)(line & 1))
                           : d->last_frame + (uint64_t)memtap_unzigzag(delta);
    if (type == MEMTAP_REC_NODE && memtap_is_py_frame(ev->u.node.frame))
        return dec_bad(c, "stack frame address out of range");
}

static void parse_py_code(cursor_t *c, memtap_event_t *ev) {
    ev->type = MEMTAP_EV_PY_CODE;
    ev->u.py_code.id = dec_get_varint(c, "Python code id");
    ev->u.py_code.firstline = dec_get_varint(c, "Python line");
    ev->u.py_code.qualname =
        get_string(c, &ev->u.py_code.qualname_len, "Python function name too long");
    ev->u.py_code.filename =
        get_string(c, &ev->u.py_code.filename_len, "Python file name too long");
    if (!c->status && (ev->u.py_code.id == 0 || ev->u.py_code.id > MEMTAP_PY_MAX_CODE ||
                       ev->u.py_code.firstline > UINT32_MAX))
        dec_bad(c, "Python code out of range");
}

/* THREAD (the index it gets) and THREAD_NAME (the index it names). */
static void parse_thread(memtap_decoder_t *d, cursor_t *c, uint8_t type, memtap_event_t *ev) {
    uint64_t v = dec_get_varint(c, type == MEMTAP_REC_THREAD ? "thread id" : "thread index");
    ev->u.thread.name = get_string(c, &ev->u.thread.name_len, "thread name too long");
    if (c->status)
        return;
    if (type == MEMTAP_REC_THREAD) {
        ev->type = MEMTAP_EV_THREAD;
        if (d->threads == UINT32_MAX)
            return dec_bad(c, "too many threads");
        ev->u.thread.tid = v;
        ev->u.thread.index = d->threads + 1;
    } else {
        ev->type = MEMTAP_EV_THREAD_NAME;
        if (v == 0 || v > d->threads)
            return dec_bad(c, "unknown thread index");
        ev->u.thread.index = (uint32_t)v;
    }
}

/* LEAK_SCAN and LEAK_CLASSES: only between the image's EXIT and its trailer, the classes
 * in order and within the scan's blocks. */
static void parse_leaks(memtap_decoder_t *d, cursor_t *c, uint8_t type, memtap_event_t *ev) {
    if (!d->exited)
        return dec_bad(c, "leak classes before the image's exit");
    if (type == MEMTAP_REC_LEAK_SCAN) {
        ev->type = MEMTAP_EV_LEAK_SCAN;
        ev->u.leak_scan.blocks = dec_get_varint(c, "leak scan");
        ev->u.leak_scan.hash = dec_get_varint(c, "leak scan");
        ev->u.leak_scan.ms = dec_get_varint(c, "leak scan");
        if (!c->status && d->leak_blocks != UINT64_MAX)
            dec_bad(c, "a second leak scan");
        return;
    }
    ev->type = MEMTAP_EV_LEAK_CLASSES;
    uint64_t first = dec_get_varint(c, "leak classes"), n = dec_get_varint(c, "leak classes");
    if (c->status)
        return;
    if (d->leak_blocks == UINT64_MAX)
        return dec_bad(c, "leak classes without a leak scan");
    if (first != d->leak_classified || n == 0 || n > MEMTAP_LEAK_CLASSES_MAX ||
        n > d->leak_blocks - first)
        return dec_bad(c, "leak classes out of order");
    size_t len = (size_t)(n + 3) / 4;
    if ((size_t)(c->end - c->p) < len) {
        c->status = PARSE_MORE;
        return;
    }
    ev->u.leak_classes.first = first;
    ev->u.leak_classes.n = n;
    ev->u.leak_classes.bits = c->p;
    c->p += len;
}

void dec_parse_process_record(memtap_decoder_t *d, cursor_t *c, memtap_event_t *ev) {
    uint8_t type = *c->p++;
    switch (type) {
    case MEMTAP_REC_MODULES_RESET:
        ev->type = MEMTAP_EV_MODULES_RESET;
        return;
    case MEMTAP_REC_MODULE:
        return parse_module(d, c, ev);
    case MEMTAP_REC_THREAD:
    case MEMTAP_REC_THREAD_NAME:
        return parse_thread(d, c, type, ev);
    case MEMTAP_REC_NODE:
    case MEMTAP_REC_PY_NODE:
        return parse_node(d, c, type, ev);
    case MEMTAP_REC_PY_CODE:
        return parse_py_code(c, ev);
    case MEMTAP_REC_TIME:
        ev->type = MEMTAP_EV_TIME;
        ev->u.time.ms = dec_get_varint(c, "time");
        ev->u.time.rss = dec_get_varint(c, "rss");
        return;
    case MEMTAP_REC_MAIN_DONE:
    case MEMTAP_REC_EXEC:
    case MEMTAP_REC_EXIT:
        ev->type = type == MEMTAP_REC_EXEC   ? MEMTAP_EV_EXEC
                   : type == MEMTAP_REC_EXIT ? MEMTAP_EV_EXIT
                                             : MEMTAP_EV_MAIN_DONE;
        ev->u.time.ms = dec_get_varint(c, "time");
        return;
    case MEMTAP_REC_LEAK_SCAN:
    case MEMTAP_REC_LEAK_CLASSES:
        return parse_leaks(d, c, type, ev);
    case MEMTAP_REC_TRAILER:
        ev->type = MEMTAP_EV_TRAILER;
        ev->u.trailer.allocations = dec_get_varint(c, "trailer");
        ev->u.trailer.frees = dec_get_varint(c, "trailer");
        ev->u.trailer.nodes = dec_get_varint(c, "trailer");
        return;
    default:
        dec_bad(c, "unknown record type");
    }
}

int dec_commit(memtap_decoder_t *d, memtap_event_t *ev) {
    switch (ev->type) {
    case MEMTAP_EV_HEADER:
        d->state = IN_IMAGE;
        d->images++;
        memtap_merge_reset(&d->merge);
        d->merge_closed = 0;
        d->merged_thread = d->fast_id = 0;
        d->last_frame = 0;
        d->nodes = d->threads = 0;
        d->allocations = d->frees = 0;
        d->exited = 0;
        d->leak_blocks = UINT64_MAX;
        d->leak_classified = 0;
        break;
    case MEMTAP_EV_EXIT:
        d->exited = 1;
        break;
    case MEMTAP_EV_LEAK_SCAN:
        d->leak_blocks = ev->u.leak_scan.blocks;
        break;
    case MEMTAP_EV_LEAK_CLASSES:
        d->leak_classified += ev->u.leak_classes.n;
        break;
    case MEMTAP_EV_ALLOC:
        d->allocations++;
        break;
    case MEMTAP_EV_FREE:
    case MEMTAP_EV_MUNMAP:
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
            return dec_fail(d, MEMTAP_ERR_CORRUPT, ev->offset,
                            "trailer counts %llu allocations, %llu frees, %llu nodes; the image "
                            "holds %llu, %llu, %u",
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
