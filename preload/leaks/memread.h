/* How the leak scan touches memory: reads of the process's own memory in batches through
 * process_vm_readv (a page unmapped meanwhile is a failed read, never a fault), the
 * residency of root pages (mincore), range arithmetic, and scratch mappings. */
#ifndef MEMTAP_PRELOAD_LEAKS_MEMREAD_H
#define MEMTAP_PRELOAD_LEAKS_MEMREAD_H

#include "leaks/leaks.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* One batch: up to MEMTAP_LEAK_MAX_IOV ranges, MEMTAP_LEAK_BUF_BYTES in all, one
 * process_vm_readv call when nothing fails. 1 MiB stays in the L2 cache while it is
 * scanned; 1024 is IOV_MAX. */
#define MEMTAP_LEAK_BUF_BYTES (1u << 20)
#define MEMTAP_LEAK_MAX_IOV 1024u

/* item.first for a range that is a root, not blocks */
#define MEMTAP_LEAK_ROOT UINT32_MAX

/* A queued range: [start, end), 8-aligned, landing at buf + off; blocks [first, last] when
 * it holds blocks (all of them, or a piece of one big block). */
typedef struct {
    uint64_t start, end;
    uint32_t first, last;
    uint32_t off;
} memtap_leak_item_t;

typedef struct {
    uint8_t *buf;
    struct iovec *local, *remote;
    memtap_leak_item_t *items;
    uint32_t nitems;
    uint32_t used;       /* bytes of buf taken */
    uint64_t unreadable; /* bytes that could not be read (zeros in buf) */
    uint64_t reads;      /* process_vm_readv calls */
    int pagemap;         /* /proc/self/pagemap for PAGEMAP_SCAN: -2 not yet, -1 none */
    unsigned char *vec;  /* mincore's answers */
} memtap_leak_reader_t;

/* Scratch bytes a reader needs (buffer and arrays). */
size_t memtap_leak_reader_scratch(void);

/* Sets up a reader in mem (memtap_leak_reader_scratch() bytes, 64-aligned). */
void memtap_leak_reader_init(memtap_leak_reader_t *r, void *mem);

/* Bytes that can still be queued (0 when every iovec is taken). */
static inline uint32_t memtap_leak_reader_room(const memtap_leak_reader_t *r) {
    return r->nitems == MEMTAP_LEAK_MAX_IOV ? 0 : MEMTAP_LEAK_BUF_BYTES - r->used;
}

/* Queues [start, end) (8-aligned, at most room bytes, not empty). */
memtap_leak_item_t *memtap_leak_reader_add(memtap_leak_reader_t *r, uint64_t start, uint64_t end);

/* Reads every queued range into buf; the pages that cannot be read are zeros there (0 is
 * never a pointer to a block). Returns 0, or -errno when process_vm_readv itself is
 * refused (EPERM, ENOSYS, ENOMEM...). The queue stays until memtap_leak_reader_clear. */
int memtap_leak_reader_fill(memtap_leak_reader_t *r);

static inline void memtap_leak_reader_clear(memtap_leak_reader_t *r) {
    r->nitems = 0;
    r->used = 0;
}

/* Reads len bytes at addr into dst with one process_vm_readv; returns the bytes read. */
size_t memtap_leak_read_once(void *dst, uint64_t addr, size_t len);

/* Calls fn(ctx, s, e) for the runs [s, e) of [start, end) worth reading, in address order:
 * the pages present or swapped out, found by the PAGEMAP_SCAN ioctl (Linux 6.7) in time
 * that grows with the pages found, not with the range (a 15 TiB sanitizer shadow with
 * 100 KiB in use is one call); without it, the pages mincore says are resident, 256 MiB
 * per call. A page never written or only holding a file's bytes is not worth reading: it
 * cannot hold a pointer into the heap. When both fail (the range unmapped meanwhile) the
 * whole range is one run: the read will tell. Stops at and returns fn's first nonzero. */
typedef int (*memtap_leak_run_fn)(void *ctx, uint64_t start, uint64_t end);
int memtap_leak_for_each_run(memtap_leak_reader_t *r, uint64_t start, uint64_t end,
                             memtap_leak_run_fn fn, void *ctx);

/* Test seam: 0 makes memtap_leak_for_each_run use mincore only, as on kernels before 6.7.
 * Not thread-safe; for tests. */
void memtap_leak_set_pagemap_scan(int on);

/* Closes what the reader opened (/proc/self/pagemap). */
void memtap_leak_reader_close(memtap_leak_reader_t *r);

/* The parts of [start, end) outside every range of ex[0..nex) (any order, may overlap),
 * in address order, into out[0..cap) with flags 0. Returns their number (at most nex + 1),
 * or SIZE_MAX when cap is too small. */
size_t memtap_leak_subtract(uint64_t start, uint64_t end, const memtap_range_t *ex, size_t nex,
                            memtap_range_t *out, size_t cap);

/* Private anonymous scratch memory, reserved without swap accounting (only what is touched
 * costs), named "[anon:memtap-scan]" where the kernel can name mappings; straight system
 * calls, so memtap's own mmap hook never sees it. NULL on failure. */
void *memtap_leak_map(size_t bytes);
void memtap_leak_unmap(void *p, size_t bytes);

/* The system page size. */
size_t memtap_leak_page_size(void);

#endif
