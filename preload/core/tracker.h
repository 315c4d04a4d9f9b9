/* Tracker state: init and shutdown, the threads' record buffers, the reentrancy guard,
 * fork and exec handling. The hooks (hooks.c) call into it; nothing here is exported. */
#ifndef MEMTAP_PRELOAD_TRACKER_H
#define MEMTAP_PRELOAD_TRACKER_H

#include <stddef.h>
#include <sys/types.h>

/* Set while a thread runs tracker code: nested allocator calls pass straight through.
 * volatile: it is read by our malloc when libc calls back into it, which a compiler that
 * sees the whole library (LTO) would otherwise not believe, and drop the stores around
 * the calls. */
extern __thread volatile int memtap_guard __attribute__((tls_model("initial-exec")));

enum { MEMTAP_STATE_OFF = 0, MEMTAP_STATE_ACTIVE = 1 };
extern int memtap_state;

/* 1 while tracking is on. */
static inline int memtap_tracking(void) {
    return __atomic_load_n(&memtap_state, __ATOMIC_RELAXED) == MEMTAP_STATE_ACTIVE;
}

/* 1 when the calling hook should record (tracking on, not re-entered). */
static inline int memtap_should_track(void) { return !memtap_guard && memtap_tracking(); }

/* The process whose capture this is: a vfork child shares our memory but must not touch
 * the capture. Set when a capture frame begins. */
extern pid_t memtap_capture_pid;

/* Says what failed (once), and switches tracking off for good; the program goes on. */
void memtap_disable(const char *what, int err);

/* Record events. Called by hooks with memtap_guard set.
 * track_alloc runs after the real allocation returned, track_free before the real free. */
void memtap_track_alloc(unsigned kind, void *p, size_t size);
void memtap_track_free(void *p);
void memtap_track_munmap(void *p, size_t len);

/* realloc and reallocarray: unwinds, takes the FREE's ticket, then calls the real function,
 * so a reuse of the old address by another thread gets a later key than its FREE. */
void *memtap_track_realloc(unsigned kind, void *p, size_t n, size_t size);

/* The same with another allocator's realloc: call(ctx, p, n, size) with n = 0 for a plain
 * realloc. Used by the PyMem wrappers. */
typedef void *(*memtap_realloc_fn)(void *ctx, void *p, size_t n, size_t size);
void *memtap_track_realloc_with(unsigned kind, void *p, size_t n, size_t size,
                                memtap_realloc_fn call, void *ctx);

/* The program's main part is done (Python: the main module and atexit handlers finished);
 * what is freed after this is teardown. */
void memtap_track_main_done(void);

/* The calling thread renamed itself (pthread_setname_np). */
void memtap_track_thread_name(const char *name);

/* The program is about to block (sleep, poll, wait, read...): pushes pending records to
 * the file unless that was done in the last 10 ms. Cheap when there is nothing pending. */
void memtap_idle(void);

/* After dlopen/dlclose: writes the new module map. */
void memtap_track_modules_changed(void);

/* Before a real exec: ends this image's frame and returns a copy of envp (NULL: environ)
 * that hands the capture descriptor to the new image; the trie and record locks stay held,
 * and no record starts until the exec fails (memtap_frame_closing). Returns
 * NULL when not tracking. After a failed exec, memtap_exec_failed resumes tracking. */
char **memtap_exec_prepare(char *const envp[]);
void memtap_exec_failed(char **newenv);

/* Ends the capture (exit, _exit): trailer, end of frame, close. Idempotent. */
void memtap_finish(void);

#endif
