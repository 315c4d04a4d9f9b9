/* libunwind-based backtraces for allocation stacks. */
#define UNW_LOCAL_ONLY
#include "unwind.h"

#include <dlfcn.h>
#include <libunwind.h>
#include <link.h>

#define OWN_FRAMES_MAX 8 /* hook + tracker frames above the user's call */

static uintptr_t self_lo, self_hi;

static int find_self(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    uintptr_t probe = (uintptr_t)data;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (a < lo)
            lo = a;
        if (a + ph->p_memsz > hi)
            hi = a + ph->p_memsz;
    }
    if (probe >= lo && probe < hi) {
        self_lo = lo;
        self_hi = hi;
        return 1;
    }
    return 0;
}

void memtap_unwind_init(void) {
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    dl_iterate_phdr(find_self, (void *)(uintptr_t)&memtap_unwind_init);
}

int memtap_unwind(uint64_t *out, int max) {
    void *ips[max + OWN_FRAMES_MAX];
    int n = unw_backtrace(ips, max + OWN_FRAMES_MAX);
    int skip = 0;
    while (skip < n && (uintptr_t)ips[skip] >= self_lo && (uintptr_t)ips[skip] < self_hi)
        skip++;
    int count = n - skip < max ? n - skip : max;
    for (int i = 0; i < count; i++)
        out[i] = (uint64_t)(uintptr_t)ips[skip + i];
    return count;
}
