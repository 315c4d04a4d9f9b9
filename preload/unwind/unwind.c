/* libunwind-based backtraces for allocation stacks. */
#define UNW_LOCAL_ONLY
#include "unwind/unwind.h"

#include <libunwind.h>
#include <link.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "unwind/fastunwind.h"
#include "unwind/gate.h"
#include "memtap/format.h"
#include "stack/stacks.h"

static uintptr_t self_lo, self_hi;
static int libunwind_only; /* MEMTAP_UNWIND=libunwind: no fast path (comparisons, A/B) */
static int check_both;     /* MEMTAP_UNWIND=check: both, and say on stderr where they differ */

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
    check_both = mode && !strcmp(mode, "check");
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    dl_iterate_phdr(find_self, (void *)(uintptr_t)&memtap_unwind_init);
}

static int with_libunwind(uint64_t *out, int max);

/* MEMTAP_UNWIND=check: a testing aid, far slower. The first differences are described. A
 * lazy walk is completed first (from the thread's stack cache or the kept walk), as
 * interning would: what is compared is what the capture gets. */
static int checked_unwind(uint64_t *out, int max, int *same_outer, int lazy) {
    static int told;
    int n = memtap_fast_unwind(out, max, self_lo, self_hi, same_outer, lazy);
    if (n > 0 && lazy == MEMTAP_LAZY_CACHE && *same_outer)
        memtap_stack_fill_outer(out, n, *same_outer);
    else if (n > 0 && lazy == MEMTAP_LAZY_KEPT && *same_outer)
        memtap_fast_unwind_fill_outer(out, n, *same_outer);
    uint64_t other[MEMTAP_MAX_DEPTH + MEMTAP_OWN_FRAMES_MAX];
    int m = with_libunwind(other, max < MEMTAP_MAX_DEPTH ? max : MEMTAP_MAX_DEPTH);
    if (n < 0) {
        memtap_fast_unwind_forget();
        *same_outer = 0;
        memcpy(out, other, (size_t)m * sizeof *out);
        return m;
    }
    int at = 0;
    while (at < n && at < m && out[at] == other[at])
        at++;
    if ((at < n || at < m) && told++ < 20) {
        char line[160];
        int len = snprintf(line, sizeof line,
                           "memtap: unwinders differ: fast %d frames, libunwind %d, from frame %d "
                           "(%#lx vs %#lx)\n",
                           n, m, at, at < n ? (unsigned long)out[at] : 0ul,
                           at < m ? (unsigned long)other[at] : 0ul);
        if (write(2, line, (size_t)len) < 0)
            told = 20;
    }
    return n;
}

int memtap_unwind(uint64_t *out, int max, int *same_outer, int lazy) {
    *same_outer = 0;
    if (check_both)
        return checked_unwind(out, max, same_outer, lazy);
    if (!libunwind_only) {
        int n = memtap_fast_unwind(out, max, self_lo, self_hi, same_outer, lazy);
        if (n >= 0)
            return n;
        memtap_fast_unwind_forget();
        *same_outer = 0;
    }
    return with_libunwind(out, max);
}

static int with_libunwind(uint64_t *out, int max) {
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
