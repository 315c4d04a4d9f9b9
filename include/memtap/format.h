/* The memtap capture format: the one definition of records, shared by libmemtap.so (writer)
 * and the memtap reader. docs/format.md has the byte tables.
 *
 * When you change anything here, also update: docs/format.md, the encoder
 * (preload/output/record.c, tbuf.c), the decoder (reader/container/container.c for pieces and
 * streams, include/memtap/container.h, reader/decode/records.c for the header and
 * the process's records, thread_record.h for thread records, order.c and merge.c for chunks
 * and keys), the golden captures (tests/golden/, written by hand from docs/format.md) and the
 * unit tests of reader/decode. Record type values are never renumbered nor reused; a change
 * to the meaning of an existing record bumps MEMTAP_FORMAT_VERSION, and the reader reads one
 * version only: what this memtap writes. */
#ifndef MEMTAP_FORMAT_H
#define MEMTAP_FORMAT_H

#include <stdint.h>

/* A capture file is a sequence of pieces (include/memtap/container.h): the records of each
 * process image (from its start or exec to its exit or next exec) are one stream, its
 * pieces' LZ4 frames one after another. Each image starts with the header: MEMTAP_MAGIC (6
 * bytes), format version (u16 little endian), then varint fields (see docs/format.md), then
 * CHUNK records until its stream's last piece ends. */
#define MEMTAP_MAGIC "MEMTAP"
#define MEMTAP_MAGIC_LEN 6
#define MEMTAP_FORMAT_VERSION 6 /* the only version the reader reads (earlier ones: 1 one
                                   stream of records; 2 Python records; 3 per-thread chunks;
                                   4 thread records against a model; 5 one LZ4 frame an
                                   image, no pieces) */

/* Header flags. */
#define MEMTAP_HDR_AFTER_EXEC 0x1u /* this image was exec'd by the previous image */
#define MEMTAP_HDR_FORK_CHILD 0x2u /* a forked child: its parent is the process named by ppid */
#define MEMTAP_HDR_CONTINUED 0x4u  /* same image again after a failed exec: keep its state */

/* Record types: the first byte of every record. Records of the process (source 0) and of
 * its threads (sources 1, 2, ...) have types of their own; see docs/format.md, 3.2 and 3.4. */
enum memtap_record_type {
    /* the process's records */
    MEMTAP_REC_MODULES_RESET = 0x01, /* the module map is re-listed from scratch */
    MEMTAP_REC_MODULE = 0x02,        /* one loaded module: path, bias, build-id, segments */
    MEMTAP_REC_THREAD = 0x03,        /* a thread seen for the first time: tid, name */
    MEMTAP_REC_THREAD_SWITCH = 0x04, /* retired (versions 1 and 2), never reuse */
    MEMTAP_REC_NODE = 0x05,          /* stack-trie node: parent, instruction pointer */
    MEMTAP_REC_TIME = 0x08,          /* time marker: ms since start, resident set size */
    MEMTAP_REC_EXEC = 0x09,          /* the image execs; the new image is a new stream */
    MEMTAP_REC_EXIT = 0x0a,          /* the process exits normally */
    MEMTAP_REC_TRAILER = 0x0b,       /* totals written last, to prove the image is whole */
    MEMTAP_REC_THREAD_NAME = 0x0c,   /* a thread renamed itself */
    MEMTAP_REC_PY_CODE = 0x0d,       /* a Python code object: id, first line, name, file */
    MEMTAP_REC_MAIN_DONE = 0x0e,     /* the main program finished; teardown follows */
    MEMTAP_REC_PY_NODE = 0x0f,       /* stack-trie node of a Python frame: code, line */
    /* top level: the records of one source; in any source: its key moves on */
    MEMTAP_REC_CHUNK = 0x20, /* source, watermark, bytes of the source's records */
    MEMTAP_REC_SKIP = 0x21,  /* the source's order key moves on by N */
    MEMTAP_REC_SKIP_SHORT = 0x28, /* 0x28..0x2f: the key moves on by type - 0x27 (1 to 8) */
    /* a thread's records (against its model, below) */
    MEMTAP_REC_FREE = 0x06,       /* FREE, address delta from the last free */
    MEMTAP_REC_MUNMAP = 0x07,     /* a range of anonymous mapping is unmapped */
    MEMTAP_REC_ALLOC = 0x10,      /* 0x10..0x1f: allocation, low nibble = memtap_alloc_kind */
    MEMTAP_REC_FREE_UNITS = 0x22, /* 0x22..0x25: FREE, delta in 16-byte units from the
                                     (type - 0x22)-th last free */
    /* source 0, between EXIT and TRAILER only: the leak scan of the blocks still live */
    MEMTAP_REC_LEAK_SCAN = 0x26,    /* live blocks scanned, their address hash, scan ms */
    MEMTAP_REC_LEAK_CLASSES = 0x27, /* first, n, then 2 bits a block (MEMTAP_CLASS_*) */
    MEMTAP_REC_ALLOC_SAME = 0x30, /* 0x30..0x3f: retired (version 3), never reuse */
    MEMTAP_REC_FREE_REF = 0x40,   /* 0x40..0x7f: FREE of an address seen D records ago */
    MEMTAP_REC_ALLOC_MODEL = 0x80, /* 0x80..0xff: ALLOC, flags and address in the type byte */
};

/* Thread records are written against a model both sides keep per thread (see
 * docs/format.md 3.4, include/memtap/model.h): the addresses of the thread's last
 * MEMTAP_MODEL_RING ALLOC and FREE records, the kind, size and address of the last
 * allocation at each stack node (a table of MEMTAP_MODEL_SIZES, by node modulo its size),
 * the node that followed each node (MEMTAP_MODEL_NEXT, by the previous node modulo its
 * size) and the addresses of the last MEMTAP_MODEL_FREES frees. An ALLOC_MODEL type byte is
 * 0x80 | flags | L; its kind is the node's last one; L holds the address field when below
 * MEMTAP_MODEL_INLINE (else L = 15 and a varint of the rest): */
#define MEMTAP_MODEL_NODE 0x40 /* the node is the predicted one: no node field */
#define MEMTAP_MODEL_REF 0x20  /* the address is a reference to an earlier record's */
#define MEMTAP_MODEL_SIZE 0x10 /* the size is the node's last: no size field */
#define MEMTAP_MODEL_INLINE 15u
#define MEMTAP_MODEL_RING 16384u
#define MEMTAP_MODEL_SIZES 16384u
#define MEMTAP_MODEL_NEXT 16384u
#define MEMTAP_MODEL_FREES 4u
#define MEMTAP_FREE_REF_SHORT 32u /* FREE_REF 0x41..0x5f: distance 1..31 in the type byte */
#define MEMTAP_FREE_REF_MID 0x60u /* 0x60..0x7f: distance's bits 8..12, then a byte */

/* Records are ordered by key, not by file position. An image's content after the header is
 * a sequence of CHUNK records: source (0: the process's own records; N: thread index N),
 * watermark, length, then that many bytes of the source's records. Every record has a
 * position: a FREE or MUNMAP 2k+1, any other record 2k, where k is its source's key (SKIP
 * adds to it; a FREE or MUNMAP adds 1 after itself). The writer takes keys from one
 * counter: a free takes a ticket (fetch-and-add) before the real free, any other record
 * reads the counter after its event. Records are replayed in position order (ties: the
 * lower source first); a source's later chunks hold no record below its last chunk's
 * watermark. */
#define MEMTAP_SKIP_SHORT_MAX 8u /* SKIP_SHORT's largest step: 0x2f */
/* The step of a SKIP_SHORT record of type t, or 0 when t is none. */
static inline unsigned memtap_skip_short(uint8_t t) {
    return (uint8_t)(t - MEMTAP_REC_SKIP_SHORT) < MEMTAP_SKIP_SHORT_MAX
               ? (unsigned)(t - MEMTAP_REC_SKIP_SHORT) + 1
               : 0;
}
#define MEMTAP_WATERMARK_CLOSED UINT64_MAX /* the source has no more records in this image */
#define MEMTAP_MAX_CHUNK (256u << 10)      /* bytes of records in one chunk */

/* Leak classes of LEAK_CLASSES, 2 bits a block, low bits first, blocks in address order. */
enum memtap_leak_class_code {
    MEMTAP_CLASS_REACHABLE = 0,
    MEMTAP_CLASS_POSSIBLE = 1, /* only pointers into its interior */
    MEMTAP_CLASS_INDIRECT = 2, /* reached only from lost blocks */
    MEMTAP_CLASS_DEFINITE = 3, /* nothing points to it */
};
#define MEMTAP_LEAK_CLASSES_MAX 16384u /* blocks in one LEAK_CLASSES record */

/* The LEAK_SCAN record's hash of the live blocks' addresses, in address order, so a reader
 * knows its replay holds the blocks the classes are of. */
static inline uint64_t memtap_leak_hash(uint64_t h, uint64_t addr) {
    return (h ^ addr) * 0x100000001b3ull;
}

/* Allocator kinds, each reported on its own. Values are part of the format. */
enum memtap_alloc_kind {
    MEMTAP_KIND_MALLOC = 0,
    MEMTAP_KIND_CALLOC = 1,
    MEMTAP_KIND_REALLOC = 2,
    MEMTAP_KIND_REALLOCARRAY = 3,
    MEMTAP_KIND_POSIX_MEMALIGN = 4,
    MEMTAP_KIND_ALIGNED_ALLOC = 5,
    MEMTAP_KIND_MEMALIGN = 6,
    MEMTAP_KIND_VALLOC = 7,
    MEMTAP_KIND_PVALLOC = 8,
    MEMTAP_KIND_MMAP = 9,
    MEMTAP_KIND_PYMEM_RAW = 10, /* PyMem_RawMalloc and friends */
    MEMTAP_KIND_PYMEM_MEM = 11, /* PyMem_Malloc */
    MEMTAP_KIND_PYMEM_OBJ = 12, /* PyObject_Malloc (pymalloc) */
    MEMTAP_KIND_COUNT = 16, /* room in the type byte; 13..15 are not defined */
};
#define MEMTAP_KIND_MAX MEMTAP_KIND_PYMEM_OBJ /* the highest kind a capture may name */

/* A Python frame inside a stack (a PY_NODE's frame, in the writer's and the reader's
 * memory): bit 63 set (no user-space address has it), bit 62 set when the frame was entered
 * by a new run of the interpreter loop (a C call into Python), then the code id and line. */
#define MEMTAP_PY_FRAME_BIT (1ull << 63)
#define MEMTAP_PY_ENTRY_BIT (1ull << 62)
#define MEMTAP_PY_LINE_BITS 24
#define MEMTAP_PY_MAX_CODE 0xffffffffull
static inline int memtap_is_py_frame(uint64_t f) { return (f & MEMTAP_PY_FRAME_BIT) != 0; }
static inline uint64_t memtap_py_frame_code(uint64_t f) {
    return (f & ~(MEMTAP_PY_FRAME_BIT | MEMTAP_PY_ENTRY_BIT)) >> MEMTAP_PY_LINE_BITS;
}
static inline uint32_t memtap_py_frame_line(uint64_t f) {
    return (uint32_t)(f & ((1u << MEMTAP_PY_LINE_BITS) - 1));
}
static inline uint64_t memtap_py_frame(uint64_t code, uint32_t line, int entry) {
    return MEMTAP_PY_FRAME_BIT | (entry ? MEMTAP_PY_ENTRY_BIT : 0) |
           code << MEMTAP_PY_LINE_BITS | line;
}

/* Limits the reader enforces (the writer never exceeds them). */
#define MEMTAP_MAX_STRING 65536  /* bytes in any string field */
#define MEMTAP_MAX_BUILD_ID 64   /* bytes of a build-id note */
#define MEMTAP_MAX_SEGMENTS 64   /* PT_LOAD segments of one module */
#define MEMTAP_MAX_DEPTH 1024    /* frames the writer may record for one stack */
#define MEMTAP_DEFAULT_DEPTH 128 /* default frame limit (memtap run --max-depth) */

/* Environment shared by `memtap run` and the library. */
#define MEMTAP_ENV_OUTPUT "MEMTAP_OUTPUT"       /* capture path; fork children add .<pid> */
#define MEMTAP_ENV_FD "MEMTAP_FD"               /* "fd:pid:dev:ino": open capture handed over */
#define MEMTAP_ENV_MAX_DEPTH "MEMTAP_MAX_DEPTH" /* frames per stack */
#define MEMTAP_ENV_FORCE "MEMTAP_FORCE"         /* "1": replace existing files */
#define MEMTAP_ENV_PYTHON_ONLY "MEMTAP_PYTHON_ONLY" /* "1": no native frames under Python */
#define MEMTAP_ENV_NO_CHILDREN "MEMTAP_NO_CHILDREN" /* "1": forked children are not tracked */
/* collector mode (include/memtap/collector.h names the collector's socket) */
#define MEMTAP_ENV_ROOT "MEMTAP_ROOT" /* pid of the process memtap run started */
#define MEMTAP_ENV_EXEC "MEMTAP_EXEC" /* pid of the image that exec'd us (AFTER_EXEC) */
#define MEMTAP_ENV_LEAK_SCAN "MEMTAP_LEAK_SCAN" /* "0": no leak scan at exit (memtap run sets it: "1" with --leak-scan or --check) */

#endif
