/* Record encoding: turns facts into the byte layout of include/memtap/format.h. The encoder
 * writes into a caller-provided buffer and keeps the delta state (last address, last frame)
 * and the totals the trailer reports. Allocation-free: safe inside malloc. */
#ifndef MEMTAP_PRELOAD_RECORD_H
#define MEMTAP_PRELOAD_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "memtap/format.h"
#include "memtap/model.h"

/* Room a fixed-size record (everything but header, thread and module) may need. */
#define MEMTAP_ENC_FIXED_MAX 48

/* The writer's half of a v4 (v5) thread's model (include/memtap/format.h): what the reader can
 * predict from the thread's earlier records. The address table is the writer's alone (the
 * reader keeps the addresses by record instead): an address's slot remembers the record
 * that last named it, so a block freed soon after it was allocated, or allocated where a
 * block was just freed, is named by a short distance. A slot is one word, address / 16 and
 * the record's number modulo 2^20, so the table stays in the fastest cache: it is emptied
 * every 2^19 records, so no slot is old enough for its number to be ambiguous. */
#define MEMTAP_MODEL_SLOTS 4096u /* power of two */
#define MEMTAP_MODEL_SLOT_ADDR_BITS 44 /* address / 16 of a 48-bit address */
#define MEMTAP_MODEL_EPOCH (1u << 19)
typedef struct {
    _Alignas(4096) uint64_t seq; /* ALLOC and FREE records written */
    uint64_t last_alloc;
    memtap_model_frees_t frees;
    uint64_t slot[MEMTAP_MODEL_SLOTS];
    memtap_model_sites_t sites;
} memtap_model_t;

typedef struct {
    uint8_t *buf;
    size_t len, cap;
    uint64_t last_addr, last_frame;
    uint64_t allocations, frees, nodes; /* written to the trailer */
    uint32_t last_node;    /* of the last ALLOC */
    memtap_model_t *model; /* v4 thread buffers: ALLOC, FREE and MUNMAP use the model */
} memtap_enc_t;

/* Test seam: the layouts of older versions, which the reader still reads and so the tests
 * write. Only the unit tests' build of record.c defines memtap_enc_test_form (make:
 * build/seams/output/record.o, -DMEMTAP_TEST_SEAMS); the library's build writes the current
 * layout and has neither the function nor the branches it selects. The encoder's layout is
 * the same in both builds. */
enum {
    MEMTAP_ENC_SAME_NODE = 1, /* v3: ALLOC_SAME when the node repeats (no model) */
    MEMTAP_ENC_MODEL_V4 = 2,  /* the model's records as version 4 writes them, not 5 */
};
/* e's records from now on in the given forms (0: the current ones). Tests only. */
void memtap_enc_test_form(const memtap_enc_t *e, unsigned forms);

typedef struct {
    uint32_t flags;
    uint64_t pid, ppid, start_unix_ns, page_size;
    const char *exe;
    const char *cmdline; /* arguments separated by NUL bytes */
    size_t cmdline_len;
    unsigned version; /* 0: MEMTAP_FORMAT_VERSION (tests write older layouts) */
} memtap_header_info_t;

typedef struct {
    uint64_t vaddr, memsz;
    uint32_t flags; /* PF_R | PF_W | PF_X */
} memtap_segment_t;

/* Starts a new LZ4 frame's stream (an image's) in enc->buf (resets delta state and totals;
 * a model, when there is one, starts empty: its pages are given back, so a thread holds only
 * the pages its records touch). */
void memtap_enc_reset(memtap_enc_t *e);

/* Each returns 0, or -1 when the record does not fit in the room left (nothing written). */
int memtap_enc_header(memtap_enc_t *e, const memtap_header_info_t *h);
int memtap_enc_module(memtap_enc_t *e, const char *path, uint64_t bias, const uint8_t *build_id,
                      size_t build_id_len, const memtap_segment_t *segs, size_t nseg);
int memtap_enc_thread(memtap_enc_t *e, uint64_t tid, const char *name);
int memtap_enc_thread_name(memtap_enc_t *e, uint32_t index, const char *name);

/* Fixed-size records: the caller guarantees MEMTAP_ENC_FIXED_MAX bytes of room. */
void memtap_enc_simple(memtap_enc_t *e, uint8_t type); /* MODULES_RESET */
void memtap_enc_u64(memtap_enc_t *e, uint8_t type, uint64_t v); /* THREAD_SWITCH, EXEC, EXIT */
void memtap_enc_node(memtap_enc_t *e, uint32_t id, uint32_t parent, uint64_t frame);
void memtap_enc_alloc(memtap_enc_t *e, unsigned kind, uint64_t addr, uint64_t size,
                      uint32_t node);
void memtap_enc_free(memtap_enc_t *e, uint64_t addr);
void memtap_enc_munmap(memtap_enc_t *e, uint64_t addr, uint64_t len);
void memtap_enc_time(memtap_enc_t *e, uint64_t ms, uint64_t rss);
void memtap_enc_trailer(memtap_enc_t *e);
/* The source's key moves on by n >= 1: a SKIP_SHORT up to MEMTAP_SKIP_SHORT_MAX, else a SKIP. */
void memtap_enc_skip(memtap_enc_t *e, uint64_t n);
void memtap_enc_py_node(memtap_enc_t *e, uint32_t id, uint32_t parent, uint64_t code,
                        uint32_t line, int entry);
/* Needs 1 + 4 varints + both strings of room; returns 0, or -1 when it does not fit. */
int memtap_enc_py_code(memtap_enc_t *e, uint64_t id, uint32_t firstline, const char *qualname,
                       size_t qualname_len, const char *filename, size_t filename_len);

/* v3: the header of a CHUNK of n bytes of a source's records into out (room for
 * MEMTAP_CHUNK_HEADER_MAX bytes). Returns its length. */
#define MEMTAP_CHUNK_HEADER_MAX 31
size_t memtap_enc_chunk_header(uint8_t *out, uint32_t source, uint64_t watermark, size_t n);

#endif
