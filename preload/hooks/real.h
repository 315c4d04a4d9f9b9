/* The real allocator functions behind our hooks, found with dlsym(RTLD_NEXT) so memtap
 * composes with jemalloc, tcmalloc or mimalloc, plus the bootstrap arena that answers the
 * allocations dlsym itself makes before the real functions are known. */
#ifndef MEMTAP_PRELOAD_REAL_H
#define MEMTAP_PRELOAD_REAL_H

#include <stddef.h>
#include <sys/types.h>

typedef struct {
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*reallocarray)(void *, size_t, size_t);
    void (*free)(void *);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    void *(*mmap)(void *, size_t, int, int, int, off_t);
    int (*munmap)(void *, size_t);
    void *(*dlopen)(const char *, int);
    int (*dlclose)(void *);
    int (*execve)(const char *, char *const[], char *const[]);
    int (*execvpe)(const char *, char *const[], char *const[]);
    void (*exit_)(int);
} memtap_real_t;

extern memtap_real_t memtap_real;

/* Resolves every entry of memtap_real once; returns 1 when all the allocator entries are
 * known. Safe to call from inside malloc (re-entry during resolution returns 0). */
int memtap_real_resolve(void);

/* Bump allocation from a small static arena, for calls made while dlsym runs. Returns NULL
 * when the arena is exhausted. Blocks from it are never given back. */
void *memtap_bootstrap_alloc(size_t size, size_t align);

/* 1 when p points into the bootstrap arena (free must ignore it, realloc must copy). */
int memtap_bootstrap_owns(const void *p);

/* Bytes from p (inside the arena) to the end of what the arena has handed out. */
size_t memtap_bootstrap_extent(const void *p);

#endif
