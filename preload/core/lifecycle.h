/* The tracker's state and the life of an image (lifecycle.c): the reentrancy guard, tracking
 * on or off, the process the capture belongs to, and the start and end of an image (the
 * records of one process image, from its start or exec to its exit or next exec).
 *
 * preload/core/ ties the stages together: the library's constructor (init.c), the records
 * of allocations (track.c) and of threads (threads.c), module maps (modules.c), fork,
 * exec and fatal signals. It may call every other folder of preload/; hooks/ and python/
 * call into it, nothing else does. Locks, always taken in this order: the modules lock
 * (modules.c), the trie lock (callstack.c), the stream's record lock, its sink lock. */
#ifndef MEMTAP_PRELOAD_LIFECYCLE_H
#define MEMTAP_PRELOAD_LIFECYCLE_H

#include <stdint.h>
#include <sys/types.h>

/* Set while a thread runs tracker code: nested allocator calls pass straight through.
 * volatile: it is read by our malloc when libc calls back into it, which a compiler that
 * sees the whole library (LTO) would otherwise not believe, and drop the stores around
 * the calls. */
extern __thread volatile int memtap_guard __attribute__((tls_model("initial-exec")));

enum { MEMTAP_STATE_OFF = 0, MEMTAP_STATE_ACTIVE = 1 };
extern int memtap_state;

/* 1 while tracking is on. Safe anywhere. */
static inline int memtap_tracking(void) {
    return __atomic_load_n(&memtap_state, __ATOMIC_RELAXED) == MEMTAP_STATE_ACTIVE;
}

/* 1 when the calling hook should record (tracking on, not re-entered). */
static inline int memtap_should_track(void) { return !memtap_guard && memtap_tracking(); }

/* The process whose capture this is: a vfork child shares our memory but must not touch
 * the capture. Set when an image begins. */
extern pid_t memtap_capture_pid;

/* The image's sequence number: node and thread ids restart with each image, and what was
 * interned or registered under another number is not valid in this one. Changes only with
 * the trie lock and the record lock held (or in a fork child), in memtap_begin_image. */
extern uint32_t memtap_image_seq;

/* Collector mode: makes this process's shared region and hands it to memtap run's collector
 * (output/shm.h). Returns 0, or -1 after saying why on stderr. */
int memtap_output_connect(void);

/* Says what failed on stderr (once: the first caller), and switches tracking off for good;
 * the program goes on. Safe inside malloc and from a signal handler. */
void memtap_disable(const char *what, int err);

/* Starts an image on fd: an empty trie, the LZ4 frame with its header, thread indices and
 * clocks from the start, the next image number. Record lock and trie lock held, or a single
 * thread (init, fork child). Returns 0, or -1 after saying why on stderr. */
int memtap_begin_image(int fd, uint32_t flags);

/* Ends the image with last_type (MEMTAP_REC_EXIT or MEMTAP_REC_EXEC) and the trailer, after
 * waiting for the records under way; no record starts until memtap_image_closing is
 * cleared (tbuf.h). Record lock held. The trie stays: other threads may be reading it. */
void memtap_end_image(uint8_t last_type);

/* Ends the capture at exit or _exit: the image's end, the descriptor closed, tracking off.
 * Idempotent; does nothing in another process (vfork child) or inside a hook (an exit from
 * a signal handler that interrupted memtap). */
void memtap_finish(void);

/* The program's main part is done (Python: the main module and atexit handlers finished);
 * what is freed after this is teardown. Guard raised. */
void memtap_track_main_done(void);

#endif
