/* dlsym(RTLD_NEXT) resolution of the real functions and the bootstrap arena. */
#include "hooks/real.h"

#include <dlfcn.h>
#include <stdint.h>

memtap_real_t memtap_real;

/* dlsym may call calloc/malloc (for its error state) before we know the real ones. */
static _Alignas(64) unsigned char arena[64 * 1024];
static size_t arena_used;

void *memtap_bootstrap_alloc(size_t size, size_t align) {
    if (align < 16)
        align = 16;
    size_t start = __atomic_load_n(&arena_used, __ATOMIC_RELAXED);
    for (;;) {
        size_t off = (start + align - 1) & ~(align - 1);
        if (off > sizeof arena || size > sizeof arena - off)
            return NULL;
        if (__atomic_compare_exchange_n(&arena_used, &start, off + size, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED))
            return arena + off;
    }
}

int memtap_bootstrap_owns(const void *p) {
    return (const unsigned char *)p >= arena && (const unsigned char *)p < arena + sizeof arena;
}

size_t memtap_bootstrap_extent(const void *p) {
    size_t used = __atomic_load_n(&arena_used, __ATOMIC_RELAXED);
    return (size_t)(arena + used - (const unsigned char *)p);
}

static __thread int resolving __attribute__((tls_model("initial-exec")));

#define RESOLVE(field, name) *(void **)&memtap_real.field = dlsym(RTLD_NEXT, name)

int memtap_real_resolve(void) {
    if (__atomic_load_n(&memtap_real.free, __ATOMIC_ACQUIRE))
        return 1;
    if (resolving)
        return 0;
    resolving = 1;
    RESOLVE(malloc, "malloc");
    RESOLVE(calloc, "calloc");
    RESOLVE(realloc, "realloc");
    RESOLVE(reallocarray, "reallocarray");
    RESOLVE(posix_memalign, "posix_memalign");
    RESOLVE(aligned_alloc, "aligned_alloc");
    RESOLVE(memalign, "memalign");
    RESOLVE(valloc, "valloc");
    RESOLVE(pvalloc, "pvalloc");
    RESOLVE(mmap, "mmap");
    RESOLVE(munmap, "munmap");
    RESOLVE(dlopen, "dlopen");
    RESOLVE(dlclose, "dlclose");
    RESOLVE(execve, "execve");
    RESOLVE(execvpe, "execvpe");
    RESOLVE(exit_, "_exit");
    void *f = dlsym(RTLD_NEXT, "free");
    resolving = 0;
    if (!memtap_real.malloc || !memtap_real.calloc || !memtap_real.realloc || !f)
        return 0;
    __atomic_store_n((void **)&memtap_real.free, f, __ATOMIC_RELEASE);
    return 1;
}
