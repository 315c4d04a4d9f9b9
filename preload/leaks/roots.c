/* memtap_leak_roots: the root set of the calling process for the leak scan, read from
 * /proc/self/smaps, plus the caller's registers.
 *
 * Which mappings are roots, and why (memcheck scans every readable and writable client
 * segment except its own heap; LeakSanitizer scans module globals, stacks and TLS only):
 *   - private, readable, writable: module .data/.bss, anonymous memory, [stack], thread
 *     stacks (whole: we cannot know where another running thread's stack pointer is) and
 *     TLS. Read-only memory can hold no pointer the program set at run time.
 *   - not mappings holding (part of) a live block: those are the allocator's heaps. Their
 *     blocks are scanned when something reaches them, and the rest (free chunks, whose
 *     stale contents would hide leaks) never. The kernel merges adjacent anonymous
 *     mappings of the same flags into one, so program data mapped right next to a
 *     mapping that holds blocks is skipped with it (thread stacks no longer merge since
 *     Linux 6.7, MAP_STACK being VM_NOHUGEPAGE there).
 *   - not shared mappings ('s'), which memcheck does scan: their pages belong to a file or
 *     to other processes too, where a pointer into our private heap means nothing, so a
 *     program does not keep its only reference to a block there; and reading a shared
 *     file mapping reads the file (unbounded I/O, on a network file system perhaps).
 *     memtap's own collector region is such a mapping. A block referenced only from
 *     shared memory is therefore reported lost.
 *   - not devices (/dev/..., except /dev/zero, or VM_IO/VM_PFNMAP in VmFlags): reading
 *     them can have side effects; memcheck skips them too.
 *   - not mappings never touched (no resident and no swapped page: all zeros, or a file's
 *     bytes, which cannot point into the heap), nor "[anon:memtap...]" (memtap's scratch).
 *   - where no page is swapped out, flagged MEMTAP_RANGE_RESIDENT_ONLY: the scan reads
 *     only the pages in use (leaks.h).
 *   - the calling thread's stack from its caller's frame up only: below are our own
 *     frames, and classify's, whose locals hold block addresses.
 * The registers: __builtin_unwind_init makes memtap_leak_roots save every callee-saved
 * register in its own frame (the values its callers left there, the only registers that
 * can hold a live pointer across the call); that frame, below the caller's, is copied into
 * a static buffer which is one of the roots. Other threads' registers cannot be read: a
 * pointer held only in another thread's register is missed (memcheck sees them all). */
#include "leaks/leaks.h"
#include "leaks/memread.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#if defined(__clang__)
#define NOIPA __attribute__((noinline))
#else
#define NOIPA __attribute__((noipa))
#endif

#define SMAPS_BUF (64u << 10)

static uint64_t frame_copy[256]; /* the registers, as memtap_leak_roots saved them */
static int busy;

/* One mapping of smaps, as far as read. */
typedef struct {
    uint64_t start, end;
    char perms[4];
    int skip;           /* device, special or memtap's own: never a root */
    uint64_t rss, swap; /* kB */
    int valid;
} mapping_t;

static int starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static const char *hex(const char *p, uint64_t *v) {
    *v = 0;
    for (;; p++) {
        unsigned d;
        if (*p >= '0' && *p <= '9')
            d = (unsigned)(*p - '0');
        else if (*p >= 'a' && *p <= 'f')
            d = (unsigned)(*p - 'a' + 10);
        else
            return p;
        *v = *v << 4 | d;
    }
}

static uint64_t decimal(const char *p) {
    uint64_t v = 0;
    while (*p == ' ')
        p++;
    while (*p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    return v;
}

/* "start-end perms offset dev inode   path" */
static void parse_header(const char *line, mapping_t *m) {
    memset(m, 0, sizeof *m);
    const char *p = hex(line, &m->start);
    if (*p != '-')
        return;
    p = hex(p + 1, &m->end);
    if (*p != ' ' || strlen(p) < 5)
        return;
    memcpy(m->perms, p + 1, 4);
    p += 5;
    for (int field = 0; field < 3 && *p; field++) { /* offset, dev, inode */
        while (*p == ' ')
            p++;
        while (*p && *p != ' ')
            p++;
    }
    while (*p == ' ')
        p++;
    m->skip =
        (starts_with(p, "/dev/") && strcmp(p, "/dev/zero") != 0 && !starts_with(p, "/dev/zero ")) ||
        starts_with(p, "[v") || /* [vvar], [vdso], [vsyscall]... */
        starts_with(p, "[anon:memtap");
    m->valid = m->end > m->start;
}

/* "Key:   value kB" lines and "VmFlags: rd wr mr ..." */
static void parse_field(const char *line, mapping_t *m) {
    if (starts_with(line, "Rss:"))
        m->rss = decimal(line + 4);
    else if (starts_with(line, "Swap:"))
        m->swap = decimal(line + 5);
    else if (starts_with(line, "VmFlags:"))
        for (const char *p = line + 8; *p; p++)
            if (p[0] == ' ' && ((p[1] == 'i' && p[2] == 'o') || (p[1] == 'p' && p[2] == 'f')) &&
                (p[3] == ' ' || p[3] == '\0'))
                m->skip = 1; /* VM_IO or VM_PFNMAP: device memory */
}

/* 1 when some block overlaps [start, end). */
static int holds_block(const memtap_live_block_t *blocks, size_t n, uint64_t start, uint64_t end) {
    size_t a = 0, z = n; /* the first block ending after start */
    while (a < z) {
        size_t mid = a + (z - a) / 2;
        uint64_t e = blocks[mid].addr + (blocks[mid].size ? blocks[mid].size : 1);
        if (e <= start)
            a = mid + 1;
        else
            z = mid;
    }
    return a < n && blocks[a].addr < end;
}

typedef struct {
    memtap_range_t *out;
    size_t cap, count;
    const memtap_range_t *exclude;
    size_t nexclude;
    memtap_range_t own[2]; /* the blocks and exclude arrays: they hold addresses */
    const memtap_live_block_t *blocks;
    size_t n;
    uint64_t cfa;
} roots_t;

/* Appends [start, end) minus the exclusions, with flags. Returns 0 or -ENOSPC. */
static int emit(roots_t *r, uint64_t start, uint64_t end, uint64_t flags) {
    memtap_range_t parts[3];
    size_t nparts = memtap_leak_subtract(start, end, r->own, 2, parts, 3);
    for (size_t k = 0; k < nparts && nparts != SIZE_MAX; k++) {
        size_t got = memtap_leak_subtract(parts[k].start, parts[k].end, r->exclude, r->nexclude,
                                          r->out + r->count, r->cap - r->count);
        if (got == SIZE_MAX)
            return -ENOSPC;
        for (size_t i = 0; i < got; i++)
            r->out[r->count + i].flags = flags;
        r->count += got;
    }
    return 0;
}

/* Decides on a mapping read whole (see the top of the file). */
static int consider(roots_t *r, const mapping_t *m) {
    if (!m->valid || m->skip || m->perms[0] != 'r' || m->perms[1] != 'w' || m->perms[3] != 'p')
        return 0;
    if (m->rss == 0 && m->swap == 0)
        return 0;
    if (holds_block(r->blocks, r->n, m->start, m->end))
        return 0;
    uint64_t start = m->start;
    if (r->cfa >= m->start && r->cfa < m->end)
        start = r->cfa;
    return emit(r, start, m->end, m->swap == 0 ? MEMTAP_RANGE_RESIDENT_ONLY : 0);
}

/* Reads smaps through buf, a line at a time. */
static int read_smaps(roots_t *r, char *buf) {
    int fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -EIO;
    mapping_t m = {0};
    size_t have = 0;
    int rc = 0, eof = 0;
    while (rc == 0 && !(eof && have == 0)) {
        char *nl = memchr(buf, '\n', have);
        if (!nl && !eof) {
            if (have == SMAPS_BUF - 1) /* no line is this long: drop it */
                have = 0;
            ssize_t got = read(fd, buf + have, SMAPS_BUF - 1 - have);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0)
                rc = -EIO;
            eof = got <= 0;
            have += got > 0 ? (size_t)got : 0;
            continue;
        }
        size_t len = nl ? (size_t)(nl - buf) : have;
        buf[len] = '\0';
        if ((buf[0] >= '0' && buf[0] <= '9') || (buf[0] >= 'a' && buf[0] <= 'f')) {
            rc = consider(r, &m); /* a header: the previous mapping is complete */
            parse_header(buf, &m);
        } else {
            parse_field(buf, &m);
        }
        size_t used = nl ? len + 1 : have;
        memmove(buf, buf + used, have - used);
        have -= used;
    }
    if (rc == 0)
        rc = consider(r, &m);
    close(fd);
    return rc;
}

static NOIPA int build(memtap_range_t *out, size_t cap, const memtap_range_t *exclude,
                       size_t nexclude, const memtap_live_block_t *blocks, size_t n, uint64_t cfa,
                       size_t copied) {
    roots_t r = {.out = out,
                 .cap = cap,
                 .exclude = exclude,
                 .nexclude = nexclude,
                 .blocks = blocks,
                 .n = n,
                 .cfa = cfa};
    r.own[0] = (memtap_range_t){(uintptr_t)blocks, (uintptr_t)(blocks + n), 0};
    r.own[1] = (memtap_range_t){(uintptr_t)exclude, (uintptr_t)(exclude + nexclude), 0};
    char *buf = memtap_leak_map(SMAPS_BUF);
    if (!buf)
        return -ENOMEM;
    int rc = read_smaps(&r, buf);
    memtap_leak_unmap(buf, SMAPS_BUF);
    if (rc < 0)
        return rc;
    if (copied) { /* the registers' copy, even when our own memory is excluded */
        if (r.count == cap)
            return -ENOSPC;
        uintptr_t at = (uintptr_t)frame_copy;
        out[r.count++] = (memtap_range_t){at, at + copied, 0};
    }
    return (int)r.count;
}

/* Copies [its own frame, cfa) (memtap_leak_roots's frame with the saved registers; 2 KiB
 * at most, from the top) into frame_copy; returns the bytes copied. Through
 * process_vm_readv: a plain copy of stack memory would trip AddressSanitizer's redzones
 * in the instrumented test build. */
static NOIPA size_t copy_frame(uint64_t cfa) {
    volatile uint64_t here = 0;
    uint64_t lo = (uintptr_t)&here & ~(uint64_t)7;
    if (cfa <= lo)
        return 0;
    if (cfa - lo > sizeof frame_copy)
        lo = cfa - sizeof frame_copy;
    return memtap_leak_read_once(frame_copy, lo, (size_t)(cfa - lo));
}

NOIPA int memtap_leak_roots(memtap_range_t *out, size_t cap, const memtap_range_t *exclude,
                            size_t nexclude, const memtap_live_block_t *blocks, size_t n) {
    __builtin_unwind_init(); /* every callee-saved register into this frame */
    int saved = errno;
    if (__atomic_exchange_n(&busy, 1, __ATOMIC_ACQUIRE))
        return -EBUSY;
    uint64_t cfa = (uintptr_t)__builtin_dwarf_cfa(); /* the caller's stack pointer */
    size_t copied = copy_frame(cfa);
    int rc = build(out, cap, exclude, nexclude, blocks, n, cfa, copied);
    __atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
    errno = saved;
    return rc;
}
