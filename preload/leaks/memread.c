/* The leak scan's access to memory (see memread.h). Every read of memory that another
 * thread may unmap goes through process_vm_readv on our own pid: the kernel walks our page
 * tables and returns EFAULT or a short count where a page is gone or unreadable, instead
 * of raising SIGSEGV/SIGBUS as a direct load would (a device or truncated file mapping
 * included). Reading oneself needs no permission (the same thread group always passes
 * ptrace's access check); only a seccomp filter can refuse it, then we return the error. */
#include "leaks/memread.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* mincore's vector: one byte per page, 256 MiB of 4 KiB pages per call */
#define VEC_PAGES (64u << 10)

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

size_t memtap_leak_page_size(void) {
    static size_t page;
    if (!page) {
        long p = sysconf(_SC_PAGESIZE);
        page = p > 0 ? (size_t)p : 4096;
    }
    return page;
}

size_t memtap_leak_reader_scratch(void) {
    return MEMTAP_LEAK_BUF_BYTES + 2 * MEMTAP_LEAK_MAX_IOV * sizeof(struct iovec) +
           MEMTAP_LEAK_MAX_IOV * sizeof(memtap_leak_item_t) + VEC_PAGES;
}

void memtap_leak_reader_init(memtap_leak_reader_t *r, void *mem) {
    uint8_t *p = mem;
    r->buf = p;
    p += MEMTAP_LEAK_BUF_BYTES;
    r->local = (struct iovec *)p;
    p += MEMTAP_LEAK_MAX_IOV * sizeof(struct iovec);
    r->remote = (struct iovec *)p;
    p += MEMTAP_LEAK_MAX_IOV * sizeof(struct iovec);
    r->items = (memtap_leak_item_t *)p;
    p += MEMTAP_LEAK_MAX_IOV * sizeof(memtap_leak_item_t);
    r->vec = p;
    r->pagemap = -2;
    r->nitems = 0;
    r->used = 0;
    r->unreadable = 0;
    r->reads = 0;
}

memtap_leak_item_t *memtap_leak_reader_add(memtap_leak_reader_t *r, uint64_t start, uint64_t end) {
    memtap_leak_item_t *it = &r->items[r->nitems];
    r->local[r->nitems] = (struct iovec){r->buf + r->used, (size_t)(end - start)};
    r->remote[r->nitems] = (struct iovec){(void *)(uintptr_t)start, (size_t)(end - start)};
    r->nitems++;
    it->start = start;
    it->end = end;
    it->off = r->used;
    r->used += (uint32_t)(end - start);
    return it;
}

/* Moves iovec pair j forward by k bytes. */
static void advance(struct iovec *local, struct iovec *remote, size_t k) {
    local->iov_base = (uint8_t *)local->iov_base + k;
    local->iov_len -= k;
    remote->iov_base = (uint8_t *)remote->iov_base + k;
    remote->iov_len -= k;
}

/* One process_vm_readv; EFAULT (nothing readable at the first byte) counts as 0 bytes. */
static ssize_t readv_self(pid_t pid, struct iovec *local, struct iovec *remote, size_t n) {
    for (;;) {
        ssize_t got = process_vm_readv(pid, local, n, remote, n, 0);
        if (got >= 0)
            return got;
        if (errno == EFAULT)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

/* The read stopped at remote[j]: reads up to the end of that page alone; if that fails
 * too, the page is unreadable (unmapped or protected meanwhile): zeros, and go on after
 * it. A second read keeps a short count for any other reason from losing data. */
static int probe_page(memtap_leak_reader_t *r, pid_t pid, uint32_t j) {
    size_t page = memtap_leak_page_size();
    uintptr_t at = (uintptr_t)r->remote[j].iov_base;
    size_t len = page - (at & (page - 1));
    if (len > r->remote[j].iov_len)
        len = r->remote[j].iov_len;
    struct iovec l = {r->local[j].iov_base, len}, m = {r->remote[j].iov_base, len};
    ssize_t got = readv_self(pid, &l, &m, 1);
    r->reads++;
    if (got < 0)
        return (int)got;
    if (got == 0) {
        memset(r->local[j].iov_base, 0, len);
        r->unreadable += len;
        got = (ssize_t)len;
    }
    advance(&r->local[j], &r->remote[j], (size_t)got);
    return 0;
}

int memtap_leak_reader_fill(memtap_leak_reader_t *r) {
    pid_t pid = getpid();
    uint32_t j = 0, n = r->nitems;
    while (j < n) {
        ssize_t got = readv_self(pid, r->local + j, r->remote + j, n - j);
        r->reads++;
        if (got < 0)
            return (int)got;
        while (j < n && (size_t)got >= r->local[j].iov_len) {
            got -= (ssize_t)r->local[j].iov_len;
            j++;
        }
        if (j == n)
            break;
        advance(&r->local[j], &r->remote[j], (size_t)got);
        int rc = probe_page(r, pid, j);
        if (rc < 0)
            return rc;
        if (r->local[j].iov_len == 0)
            j++;
    }
    return 0;
}

size_t memtap_leak_read_once(void *dst, uint64_t addr, size_t len) {
    struct iovec l = {dst, len}, m = {(void *)(uintptr_t)addr, len};
    ssize_t got = readv_self(getpid(), &l, &m, 1);
    return got > 0 ? (size_t)got : 0;
}

/* The PAGEMAP_SCAN ioctl's interface (linux/fs.h since 6.7; older headers lack it). */
struct memtap_pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
struct memtap_page_region {
    uint64_t start, end, categories;
};
#define MEMTAP_PAGEMAP_SCAN _IOWR('f', 16, struct memtap_pm_scan_arg)
#define MEMTAP_PAGE_IS_PRESENT (1u << 3)
#define MEMTAP_PAGE_IS_SWAPPED (1u << 4)
#define MEMTAP_PAGE_IS_PFNZERO (1u << 5)

/* Runs by PAGEMAP_SCAN over page-aligned [lo, hi), clipped to [start, end). Returns 0 or
 * fn's nonzero; when the ioctl fails (not there, or an error), sets *resume to where
 * another method must go on and *err to errno. */
static int scan_runs(int fd, uint64_t lo, uint64_t hi, uint64_t start, uint64_t end,
                     memtap_leak_run_fn fn, void *ctx, uint64_t *resume, int *err) {
    struct memtap_page_region regions[64];
    for (uint64_t at = lo; at < hi;) {
        struct memtap_pm_scan_arg arg = {
            .size = sizeof arg,
            .start = at,
            .end = hi,
            .vec = (uintptr_t)regions,
            .vec_len = sizeof regions / sizeof regions[0],
            /* present or swapped, and not the shared zero page */
            .category_inverted = MEMTAP_PAGE_IS_PFNZERO,
            .category_mask = MEMTAP_PAGE_IS_PFNZERO,
            .category_anyof_mask = MEMTAP_PAGE_IS_PRESENT | MEMTAP_PAGE_IS_SWAPPED,
            .return_mask = MEMTAP_PAGE_IS_PRESENT | MEMTAP_PAGE_IS_SWAPPED};
        long got = ioctl(fd, MEMTAP_PAGEMAP_SCAN, &arg);
        if (got < 0 || arg.walk_end <= at || arg.walk_end > hi) {
            *err = got < 0 ? errno : EIO; /* no progress: let the other method finish */
            *resume = at;
            return 0;
        }
        for (long i = 0; i < got; i++) {
            uint64_t s = regions[i].start < start ? start : regions[i].start;
            uint64_t e = regions[i].end > end ? end : regions[i].end;
            int rc = s < e ? fn(ctx, s, e) : 0;
            if (rc)
                return rc;
        }
        at = arg.walk_end;
    }
    *resume = hi;
    return 0;
}

/* Runs by mincore over page-aligned [lo, hi), clipped to [start, end). */
static int resident_runs(memtap_leak_reader_t *r, uint64_t lo, uint64_t hi, uint64_t start,
                         uint64_t end, memtap_leak_run_fn fn, void *ctx) {
    size_t page = memtap_leak_page_size();
    for (uint64_t at = lo; at < hi;) {
        size_t npages = (size_t)((hi - at) / page);
        if (npages > VEC_PAGES)
            npages = VEC_PAGES;
        uint64_t stop = at + npages * page;
        if (mincore((void *)(uintptr_t)at, npages * page, r->vec) != 0) {
            memset(r->vec, 1, npages); /* unmapped meanwhile, or no memory: read it all */
        }
        for (size_t i = 0; i < npages;) {
            if (!(r->vec[i] & 1)) {
                i++;
                continue;
            }
            size_t k = i;
            while (k < npages && (r->vec[k] & 1))
                k++;
            uint64_t s = at + i * page, e = at + k * page;
            int rc = fn(ctx, s < start ? start : s, e > end ? end : e);
            if (rc)
                return rc;
            i = k;
        }
        at = stop;
    }
    return 0;
}

static int use_pagemap_scan = 1;

void memtap_leak_set_pagemap_scan(int on) {
    use_pagemap_scan = on;
}

int memtap_leak_for_each_run(memtap_leak_reader_t *r, uint64_t start, uint64_t end,
                             memtap_leak_run_fn fn, void *ctx) {
    size_t page = memtap_leak_page_size();
    uint64_t lo = start & ~(uint64_t)(page - 1);
    uint64_t hi = end > UINT64_MAX - page ? end & ~(uint64_t)(page - 1)
                                          : (end + page - 1) & ~(uint64_t)(page - 1);
    if (hi <= lo)
        return fn(ctx, start, end);
    if (r->pagemap == -2)
        r->pagemap = use_pagemap_scan ? open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC) : -1;
    if (r->pagemap >= 0) {
        uint64_t resume = hi;
        int err = 0;
        int rc = scan_runs(r->pagemap, lo, hi, start, end, fn, ctx, &resume, &err);
        if (rc || resume == hi)
            return rc;
        if (resume == lo && (err == ENOTTY || err == EINVAL || err == EOPNOTSUPP)) {
            close(r->pagemap); /* an older kernel: mincore from now on */
            r->pagemap = -1;
        }
        lo = resume;
    }
    return resident_runs(r, lo, hi, start, end, fn, ctx);
}

void memtap_leak_reader_close(memtap_leak_reader_t *r) {
    if (r->pagemap >= 0)
        close(r->pagemap);
    r->pagemap = -2;
}

size_t memtap_leak_subtract(uint64_t start, uint64_t end, const memtap_range_t *ex, size_t nex,
                            memtap_range_t *out, size_t cap) {
    size_t count = 0;
    uint64_t at = start;
    while (at < end) {
        /* the excluded range overlapping [at, end) that starts first */
        const memtap_range_t *next = 0;
        for (size_t i = 0; i < nex; i++)
            if (ex[i].start < end && ex[i].end > at && ex[i].start < ex[i].end &&
                (!next || ex[i].start < next->start))
                next = &ex[i];
        uint64_t stop = next ? (next->start > at ? next->start : at) : end;
        if (stop > at) {
            if (count == cap)
                return SIZE_MAX;
            out[count++] = (memtap_range_t){at, stop, 0};
        }
        if (!next)
            break;
        at = next->end;
    }
    return count;
}

void *memtap_leak_map(size_t bytes) {
    long p = syscall(SYS_mmap, NULL, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == -1)
        return NULL;
    /* a name lets memtap_leak_roots (ours or a later scan's) leave it out */
    prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)p, bytes, "memtap-scan");
    return (void *)p;
}

void memtap_leak_unmap(void *p, size_t bytes) {
    if (p)
        syscall(SYS_munmap, p, bytes);
}
