/* The interposed functions: the only symbols libmemtap.so exports. Each one calls the real
 * function inside the reentrancy guard and records outside of it: allocations after the
 * real call returned, frees before the real free. errno and results are never changed. */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>

#include "unwind/fastunwind.h"
#include "memtap/format.h"
#include "hooks/real.h"
#include "core/exec.h"
#include "core/lifecycle.h"
#include "core/modules.h"
#include "core/threads.h"
#include "core/track.h"

#define EXPORT __attribute__((visibility("default")))

/* Real functions are resolved on first use; dlsym's own allocations are served from the
 * bootstrap arena meanwhile. */
static inline int have_real(void) {
    return __atomic_load_n(&memtap_real.free, __ATOMIC_ACQUIRE) != NULL || memtap_real_resolve();
}

static void record_alloc(unsigned kind, void *p, size_t size) {
    int saved = errno;
    memtap_track_alloc(kind, p, size);
    errno = saved;
}

/* Shared body of the allocation hooks: `call` is the real call producing `p`. The caller's
 * registers are noted for the stack walk (fastunwind.h). */
#define ALLOC_HOOK(kind, size, call)                                                         \
    do {                                                                                     \
        if (!memtap_should_track())                                                          \
            return call;                                                                     \
        memtap_note_entry(__builtin_frame_address(0));                                       \
        memtap_guard = 1;                                                                    \
        void *p = call;                                                                      \
        if (p)                                                                               \
            record_alloc(kind, p, size);                                                     \
        memtap_guard = 0;                                                                    \
        memtap_clear_entry();                                                                \
        return p;                                                                            \
    } while (0)

EXPORT void *malloc(size_t size) {
    if (!have_real())
        return memtap_bootstrap_alloc(size, 16);
    ALLOC_HOOK(MEMTAP_KIND_MALLOC, size, memtap_real.malloc(size));
}

EXPORT void *calloc(size_t n, size_t size) {
    if (!have_real()) {
        size_t total;
        if (__builtin_mul_overflow(n, size, &total))
            return NULL;
        return memtap_bootstrap_alloc(total, 16); /* static storage: already zero */
    }
    ALLOC_HOOK(MEMTAP_KIND_CALLOC, n * size, memtap_real.calloc(n, size));
}

EXPORT void free(void *p) {
    if (!p || memtap_bootstrap_owns(p))
        return;
    if (!have_real())
        return;
    if (!memtap_should_track()) {
        memtap_real.free(p);
        return;
    }
    int saved = errno;
    memtap_guard = 1;
    memtap_track_free(p);
    memtap_real.free(p);
    memtap_guard = 0;
    errno = saved;
}

/* realloc of a block from the bootstrap arena: move it to the real heap. */
static void *realloc_from_bootstrap(void *p, size_t size) {
    void *q = malloc(size);
    if (q) {
        size_t room = memtap_bootstrap_extent(p);
        memcpy(q, p, size < room ? size : room);
    }
    return q;
}

/* Inline: the frame noted is the exported function's, whose caller is the program. */
static inline __attribute__((always_inline)) void *realloc_hook(unsigned kind, void *p, size_t n,
                                                                size_t size) {
    if (!memtap_should_track())
        return kind == MEMTAP_KIND_REALLOCARRAY ? memtap_real.reallocarray(p, n, size)
                                                : memtap_real.realloc(p, size);
    memtap_note_entry(__builtin_frame_address(0));
    memtap_guard = 1;
    void *q = memtap_track_realloc(kind, p, n, size);
    memtap_guard = 0;
    memtap_clear_entry();
    return q;
}

EXPORT void *realloc(void *p, size_t size) {
    if (!have_real())
        return memtap_bootstrap_alloc(size, 16);
    if (memtap_bootstrap_owns(p))
        return realloc_from_bootstrap(p, size);
    return realloc_hook(MEMTAP_KIND_REALLOC, p, 1, size);
}

EXPORT void *reallocarray(void *p, size_t n, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (!have_real() || !memtap_real.reallocarray || memtap_bootstrap_owns(p))
        return realloc(p, total);
    return realloc_hook(MEMTAP_KIND_REALLOCARRAY, p, n, size);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size) {
    if (!have_real() || !memtap_real.posix_memalign)
        return ENOMEM;
    if (!memtap_should_track())
        return memtap_real.posix_memalign(out, align, size);
    memtap_note_entry(__builtin_frame_address(0));
    memtap_guard = 1;
    int rc = memtap_real.posix_memalign(out, align, size);
    if (rc == 0)
        record_alloc(MEMTAP_KIND_POSIX_MEMALIGN, *out, size);
    memtap_guard = 0;
    memtap_clear_entry();
    return rc;
}

EXPORT void *aligned_alloc(size_t align, size_t size) {
    if (!have_real() || !memtap_real.aligned_alloc)
        return memtap_bootstrap_alloc(size, align);
    ALLOC_HOOK(MEMTAP_KIND_ALIGNED_ALLOC, size, memtap_real.aligned_alloc(align, size));
}

EXPORT void *memalign(size_t align, size_t size) {
    if (!have_real() || !memtap_real.memalign)
        return memtap_bootstrap_alloc(size, align);
    ALLOC_HOOK(MEMTAP_KIND_MEMALIGN, size, memtap_real.memalign(align, size));
}

EXPORT void *valloc(size_t size) {
    if (!have_real() || !memtap_real.valloc)
        return NULL;
    ALLOC_HOOK(MEMTAP_KIND_VALLOC, size, memtap_real.valloc(size));
}

EXPORT void *pvalloc(size_t size) {
    if (!have_real() || !memtap_real.pvalloc)
        return NULL;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t rounded = size ? (size + page - 1) & ~(page - 1) : page;
    ALLOC_HOOK(MEMTAP_KIND_PVALLOC, rounded, memtap_real.pvalloc(size));
}

/* Only anonymous mappings are memory the program allocates; glibc's malloc maps its large
 * blocks through an internal mmap that never reaches this hook, so nothing counts twice. */
EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    if (!have_real() || !memtap_real.mmap)
        return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    if (!(flags & MAP_ANONYMOUS) || !memtap_should_track())
        return memtap_real.mmap(addr, len, prot, flags, fd, off);
    memtap_guard = 1;
    void *p = memtap_real.mmap(addr, len, prot, flags, fd, off);
    if (p != MAP_FAILED)
        record_alloc(MEMTAP_KIND_MMAP, p, len);
    memtap_guard = 0;
    return p;
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    return mmap(addr, len, prot, flags, fd, off);
}

EXPORT int munmap(void *addr, size_t len) {
    if (!have_real() || !memtap_real.munmap)
        return (int)syscall(SYS_munmap, addr, len);
    if (!memtap_should_track())
        return memtap_real.munmap(addr, len);
    int saved = errno;
    memtap_guard = 1;
    memtap_track_munmap(addr, len);
    errno = saved;
    int rc = memtap_real.munmap(addr, len);
    memtap_guard = 0;
    return rc;
}

/* After dlopen/dlclose: the module map changed. */
static void modules_changed(void) {
    if (!memtap_should_track())
        return;
    int saved = errno;
    memtap_guard = 1;
    memtap_track_modules_changed();
    memtap_guard = 0;
    errno = saved;
}

EXPORT void *dlopen(const char *file, int mode) {
    if (!have_real() || !memtap_real.dlopen)
        return NULL;
    void *h = memtap_real.dlopen(file, mode);
    if (h)
        modules_changed();
    return h;
}

EXPORT int dlclose(void *h) {
    if (!have_real() || !memtap_real.dlclose)
        return -1;
    int rc = memtap_real.dlclose(h);
    modules_changed();
    return rc;
}

EXPORT int pthread_setname_np(pthread_t thread, const char *name) {
    static int (*real_setname)(pthread_t, const char *);
    if (!real_setname)
        *(void **)&real_setname = dlsym(RTLD_NEXT, "pthread_setname_np");
    if (!real_setname)
        return ENOSYS;
    int rc = real_setname(thread, name);
    if (rc == 0 && pthread_equal(thread, pthread_self()) && memtap_should_track()) {
        int saved = errno;
        memtap_guard = 1;
        memtap_track_thread_name(name);
        memtap_guard = 0;
        errno = saved;
    }
    return rc;
}

/* exec: the capture descriptor is handed to the new image (see core/exec.h). */
static int exec_hook(const char *file, char *const argv[], char *const envp[], int search) {
    /* a vfork child runs on its parent's memory, thread-local guard included: it must change
     * nothing (a guard raised here would stay raised in the parent once the exec succeeds,
     * and the parent would record nothing more, its end included) */
    if (!have_real() || memtap_guard || getpid() != memtap_capture_pid)
        return search ? memtap_real.execvpe(file, argv, envp)
                      : memtap_real.execve(file, argv, envp);
    memtap_guard = 1;
    char **env = memtap_exec_prepare(envp);
    char *const *use = env ? env : envp;
    int rc = search ? memtap_real.execvpe(file, argv, use) : memtap_real.execve(file, argv, use);
    if (env)
        memtap_exec_failed(env);
    memtap_guard = 0;
    return rc;
}

extern char **environ;

EXPORT int execve(const char *path, char *const argv[], char *const envp[]) {
    return exec_hook(path, argv, envp, 0);
}
EXPORT int execv(const char *path, char *const argv[]) { return exec_hook(path, argv, environ, 0); }
EXPORT int execvpe(const char *file, char *const argv[], char *const envp[]) {
    return exec_hook(file, argv, envp, 1);
}
EXPORT int execvp(const char *file, char *const argv[]) {
    return exec_hook(file, argv, environ, 1);
}

/* execl, execlp, execle: glibc's versions call its internal execve, so gather the
 * arguments here and go through the hook. */
#define GATHER_ARGS(first, ap, argv)                                                        \
    size_t argc_ = 1;                                                                       \
    va_start(ap, first);                                                                    \
    while (va_arg(ap, const char *))                                                        \
        argc_++;                                                                            \
    va_end(ap);                                                                             \
    char *argv[argc_ + 1];                                                                  \
    argv[0] = (char *)first;                                                                \
    va_start(ap, first);                                                                    \
    for (size_t i_ = 1; i_ <= argc_; i_++)                                                  \
        argv[i_] = va_arg(ap, char *);

EXPORT int execl(const char *path, const char *arg, ...) {
    va_list ap;
    GATHER_ARGS(arg, ap, argv);
    va_end(ap);
    return exec_hook(path, argv, environ, 0);
}

EXPORT int execlp(const char *file, const char *arg, ...) {
    va_list ap;
    GATHER_ARGS(arg, ap, argv);
    va_end(ap);
    return exec_hook(file, argv, environ, 1);
}

EXPORT int execle(const char *path, const char *arg, ...) {
    va_list ap;
    GATHER_ARGS(arg, ap, argv);
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return exec_hook(path, argv, envp, 0);
}

EXPORT void _exit(int status) {
    memtap_finish();
    if (have_real() && memtap_real.exit_)
        memtap_real.exit_(status);
    syscall(SYS_exit_group, status);
    __builtin_unreachable();
}

EXPORT void _Exit(int status) { _exit(status); }
