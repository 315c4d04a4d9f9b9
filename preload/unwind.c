/* libunwind-based backtraces for allocation stacks. */
#define UNW_LOCAL_ONLY
#include "unwind.h"

#include <dlfcn.h>
#include <libunwind.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>

#include "fastunwind.h"
#include "gate.h"


static uintptr_t self_lo, self_hi;
static int libunwind_only; /* MEMTAP_UNWIND=libunwind: no fast path (comparisons, A/B) */

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
    const char *mode = getenv("MEMTAP_UNWIND");
    libunwind_only = mode && !strcmp(mode, "libunwind");
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    dl_iterate_phdr(find_self, (void *)(uintptr_t)&memtap_unwind_init);
}

int memtap_unwind(uint64_t *out, int max, int *same_outer) {
    *same_outer = 0;
    if (!libunwind_only) {
        int n = memtap_fast_unwind(out, max, self_lo, self_hi, same_outer);
        if (n >= 0)
            return n;
        memtap_fast_unwind_forget();
        *same_outer = 0;
    }
    /* unwind straight into out (void * and uint64_t are the same size here), then drop our
     * own frames: one buffer on the allocating thread's stack, not two */
    _Static_assert(sizeof(void *) == sizeof(uint64_t), "64-bit addresses");
    memtap_gate_enter(); /* libunwind has locks of its own: no fork meanwhile */
    int n = unw_backtrace((void **)out, max + MEMTAP_OWN_FRAMES_MAX);
    memtap_gate_leave();
    int skip = 0;
    while (skip < n && out[skip] >= self_lo && out[skip] < self_hi)
        skip++;
    int count = n - skip < max ? n - skip : max;
    if (skip)
        memmove(out, out + skip, (size_t)count * sizeof *out);
    return count;
}
