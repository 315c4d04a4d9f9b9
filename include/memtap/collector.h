/* The collector protocol: how libmemtap.so hands its records to `memtap run`, which writes
 * the one capture file of the whole process tree (docs/architecture.md, "One run, one
 * capture"; docs/format.md, section 1).
 *
 * Each process maps a region of shared memory (a memfd) and sends it to the collector over
 * an abstract Unix socket named by MEMTAP_COLLECTOR, then closes both descriptors: what the
 * program does with its descriptors afterwards cannot lose a record. The process writes
 * what would otherwise go to the LZ4 sink (image headers, CHUNK records) into the region's
 * ring; the collector drains the ring, compresses and writes. Its record buffers (source 0
 * and the threads') live in the region too, so when a process dies without ending its
 * image (SIGKILL, a crash) the collector takes the records it had not yet flushed from
 * there: nothing committed is lost.
 *
 * When you change anything here, bump MEMTAP_SHM_VERSION and update preload/output (the
 * writer), reader/collect (the collector) and their tests together. */
#ifndef MEMTAP_COLLECTOR_H
#define MEMTAP_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>

#define MEMTAP_ENV_COLLECTOR "MEMTAP_COLLECTOR" /* the socket's abstract name, without NUL */

#define MEMTAP_SHM_MAGIC 0x48534d415441454dull /* "MEMTAPSH" little endian */
#define MEMTAP_SHM_VERSION 2u

/* The region: sparse, pages are touched as used. Thread slots end where the live table of
 * the leak scan starts. */
#define MEMTAP_SHM_SIZE (8ull << 30)
#define MEMTAP_SHM_LIVE_OFFSET (1ull << 30)
#define MEMTAP_SHM_RING_OFFSET 4096u
#define MEMTAP_SHM_RING_SIZE (4u << 20) /* a power of two */
#define MEMTAP_SHM_SOURCE0_OFFSET (MEMTAP_SHM_RING_OFFSET + MEMTAP_SHM_RING_SIZE)
#define MEMTAP_SHM_SOURCE0_SIZE (64u * 1024)
#define MEMTAP_SHM_SLOTS_OFFSET (MEMTAP_SHM_SOURCE0_OFFSET + MEMTAP_SHM_SOURCE0_SIZE)

/* Ring items: u32le length of the payload, u8 kind, the payload (capture bytes). An item
 * is published whole (ring_head moves past it only once it is written) and may wrap around
 * the ring's end. */
#define MEMTAP_ITEM_HEADER_LEN 5u
enum memtap_item_kind {
    MEMTAP_ITEM_IMAGE = 1, /* an image header: a new image starts in this region */
    MEMTAP_ITEM_CHUNK = 2, /* one CHUNK record of the current image */
};
#define MEMTAP_ITEM_MAX (MEMTAP_SHM_RING_SIZE / 4) /* no item is larger */

/* A thread's record buffer in the region: this header, then its data at
 * slot_data_offset from the slot's start. Written by the owning process only. */
typedef struct {
    uint32_t image;     /* the image it records in (control.image), 0: free */
    uint32_t source;    /* its CHUNK source number in that image */
    uint64_t base;      /* source bytes put into CHUNKs before data[0], in that image */
    uint64_t committed; /* low 32 bits: bytes of whole records in data (release) */
} memtap_shm_slot_t;

/* The region's first page. */
typedef struct {
    uint64_t magic;
    uint32_t version;
    uint32_t pid;
    uint64_t size;
    uint32_t slot_size;        /* bytes a thread slot takes */
    uint32_t slot_data_offset; /* where its data starts */
    uint32_t slots_used;       /* slots ever handed out (release) */
    uint32_t image;            /* the current image's number, from 1 (release) */
    /* source 0 (the process's own records) of the current image */
    uint64_t source0_base; /* its bytes put into CHUNKs before the buffer's first */
    uint64_t source0_len;  /* bytes of whole records in the buffer (release) */
    _Alignas(64) uint64_t ring_head; /* payload bytes ever written, items whole (release) */
    _Alignas(64) uint64_t ring_tail; /* bytes the collector has taken (release) */
    /* the collector's: a writer that finds the ring full gives up on a collector that has
     * not come round for MEMTAP_SHM_STALE_NS, or has gone */
    uint64_t collector_beat_ns; /* CLOCK_MONOTONIC of its last round */
    uint32_t collector_gone;    /* 1: nothing more is read from this region */
    /* the leak scan at exit (preload/leaks/exit_scan.c): the process asks for the blocks
     * its image still holds; the collector replays the image and answers with the live
     * table at MEMTAP_SHM_LIVE_OFFSET (memtap_shm_block_t, by address) */
    _Alignas(64) uint32_t scan_state; /* MEMTAP_SCAN_*: a futex word both sides wake */
    uint32_t scan_pad;
    uint64_t live_count; /* entries in the live table (when READY) */
} memtap_shm_control_t;

enum memtap_scan_state {
    MEMTAP_SCAN_NONE = 0,
    MEMTAP_SCAN_ASKED = 1,  /* by the process, its image's records all flushed to the ring */
    MEMTAP_SCAN_READY = 2,  /* by the collector: the live table is written */
    MEMTAP_SCAN_FAILED = 3, /* by the collector: no table (out of memory, a broken image) */
};

typedef struct {
    uint64_t addr, size;
} memtap_shm_block_t;
#define MEMTAP_SHM_LIVE_MAX ((MEMTAP_SHM_SIZE - MEMTAP_SHM_LIVE_OFFSET) / sizeof(memtap_shm_block_t))

#define MEMTAP_SHM_STALE_NS (5 * 1000000000ull)

_Static_assert(sizeof(memtap_shm_control_t) <= MEMTAP_SHM_RING_OFFSET, "control page");

/* The hello: the process's first message on the socket, with the region's memfd attached
 * (SCM_RIGHTS). The collector answers with one byte: 1 accepted, 0 refused. */
typedef struct {
    uint32_t magic; /* MEMTAP_HELLO_MAGIC */
    uint32_t version;
    uint64_t size; /* of the region */
} memtap_hello_t;
#define MEMTAP_HELLO_MAGIC 0x4c454854u /* "THEL" */

#endif
