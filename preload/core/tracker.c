/* Tracker state for libmemtap.so: opening the capture, recording events into the stream,
 * per-thread ids, fork children, exec hand-over and the end of the capture (time markers
 * and flushes: pacing.c). Locks, always taken in this order: modules_lock, the trie lock
 * (callstack.c), the stream's record lock, the stream's sink lock. */
#include "core/tracker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "output/capture_file.h"
#include "stack/fastunwind.h"
#include "stack/gate.h"
#include "base/log.h"
#include "memtap/format.h"
#include "memtap/varint.h"
#include "core/modules.h"
#include "output/pacing.h"
#include "base/procfs.h"
#include "python/pystack.h"
#include "python/python.h"
#include "hooks/real.h"
#include "output/record.h"
#include "stack/stacks.h"
#include "output/stream.h"
#include "output/tbuf.h"
#include "stack/callstack.h"
#include "stack/unwind.h"

#define RECORD_ROOM (MEMTAP_ENC_FIXED_MAX + MEMTAP_VARINT_MAX + 1) /* a record and a SKIP */

__thread volatile int memtap_guard __attribute__((tls_model("initial-exec")));
/* read by every hook: on a line that records never write */
__attribute__((aligned(64))) int memtap_state;

static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER; /* guards modules_scratch */

static memtap_enc_t modules_scratch;
pid_t memtap_capture_pid;

/* Node and thread ids restart in each capture frame: the generation changes with them.
 * It changes only with the trie lock and the record lock held (or in a fork child). */
uint32_t memtap_generation = 1;
static uint32_t threads_seen; /* record lock */

void memtap_disable(const char *what, int err) {
    if (__atomic_exchange_n(&memtap_state, MEMTAP_STATE_OFF, __ATOMIC_ACQ_REL) !=
        MEMTAP_STATE_OFF)
        memtap_log(what, memtap_capture_path(), err);
}

/* Writes the current module map. Takes modules_lock, then the record lock for appending
 * (unless the caller is the only thread: a fork child). */
static void write_modules(int take_lock) {
    pthread_mutex_lock(&modules_lock);
    int rc = memtap_modules_encode(&modules_scratch);
    if (take_lock)
        memtap_lock(&memtap_stream_lock);
    if (rc < 0)
        memtap_disable("cannot list the loaded modules", ENOMEM);
    else if (memtap_tracking())
        memtap_stream_append(modules_scratch.buf, modules_scratch.len);
    if (take_lock)
        memtap_unlock(&memtap_stream_lock);
    pthread_mutex_unlock(&modules_lock);
}

/* Starts a capture frame on fd: stream, empty trie, header. Record lock and trie_lock held,
 * or a single thread. */
static int begin_capture(int fd, uint32_t flags) {
    int err = 0;
    if (memtap_callstack_begin_frame() < 0) {
        memtap_log("cannot map memory for stacks", NULL, errno);
        return -1;
    }
    static char cmdline[16 * 1024], exe[PATH_MAX];
    memtap_header_info_t h = {0};
    h.flags = flags;
    h.pid = (uint64_t)getpid();
    h.ppid = (uint64_t)getppid();
    h.start_unix_ns = memtap_pace_realtime_ns();
    h.page_size = (uint64_t)sysconf(_SC_PAGESIZE);
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    h.exe = exe;
    h.cmdline = cmdline;
    h.cmdline_len = memtap_read_file("/proc/self/cmdline", cmdline, sizeof cmdline);
    if (memtap_stream_open(fd, &h, &err) < 0) {
        memtap_log("cannot start the capture", memtap_capture_path(), err);
        return -1;
    }
    __atomic_store_n(&memtap_generation, memtap_generation + 1, __ATOMIC_RELEASE);
    threads_seen = 0;
    memtap_capture_pid = getpid();
    memtap_pace_start();
    return 0;
}

/* fork from a signal handler that interrupted this thread inside memtap: our locks may be
 * held by this very thread, so they are not taken and the child does not track. */
static __thread int fork_in_hook __attribute__((tls_model("initial-exec")));

static void atfork_prepare(void) {
    fork_in_hook = memtap_guard > 0;
    memtap_guard++;
    if (fork_in_hook)
        return;
    memtap_gate_close();
    pthread_mutex_lock(&modules_lock);
    memtap_callstack_lock();
    memtap_lock(&memtap_stream_lock);
    memtap_stream_lock_sink(); /* no thread is flushing or registering a buffer */
}

static void atfork_parent(void) {
    if (!fork_in_hook) {
        memtap_stream_unlock_sink();
        memtap_unlock(&memtap_stream_lock);
        memtap_callstack_unlock();
        pthread_mutex_unlock(&modules_lock);
        memtap_gate_open();
    }
    memtap_guard--;
}

static void atfork_child(void) {
    memtap_frame_closing = 0;
    pthread_mutex_init(&modules_lock, NULL);
    memtap_callstack_after_fork();
    memtap_gate_reset();
    memtap_stream_after_fork();
    if (fork_in_hook || !memtap_capture_children())
        memtap_state = MEMTAP_STATE_OFF;
    if (memtap_state == MEMTAP_STATE_ACTIVE) {
        /* The parent's frame and stacks are not ours: start a capture of our own. */
        memtap_callstack_end_frame();
        int fd = memtap_capture_open_child();
        if (fd < 0 || begin_capture(fd, MEMTAP_HDR_FORK_CHILD) < 0) {
            memtap_state = MEMTAP_STATE_OFF;
            if (fd >= 0)
                close(fd);
        } else {
            write_modules(0);
        }
    }
    memtap_guard--;
}

/* Fatal and terminating signals left at their default action: push what is buffered to the
 * file, then let the default action happen. The capture stays incomplete (no trailer), as
 * it should for a program that did not exit, but loses nothing. A handler the program
 * installs later replaces this one. */
static const int flushed_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT,
                                      SIGTERM, SIGINT, SIGQUIT, SIGHUP};

static void on_fatal_signal(int sig, siginfo_t *info, void *ctx) {
    (void)ctx;
    int saved = errno;
    memtap_guard++;
    if (getpid() == memtap_capture_pid && memtap_trylock(&memtap_stream_lock) == 0) {
        if (memtap_tracking())
            memtap_stream_flush(0);
        memtap_state = MEMTAP_STATE_OFF;
        memtap_unlock(&memtap_stream_lock);
    }
    struct sigaction dfl = {0};
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    memtap_guard--;
    errno = saved;
    if (info->si_code <= 0) /* sent by kill, raise or abort: send it again */
        raise(sig);
    /* a fault: returning re-runs the faulting instruction under the default action */
}

static void install_signal_flush(void) {
    for (size_t i = 0; i < sizeof flushed_signals / sizeof flushed_signals[0]; i++) {
        struct sigaction old, sa = {0};
        if (sigaction(flushed_signals[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL ||
            (old.sa_flags & SA_SIGINFO))
            continue;
        sa.sa_sigaction = on_fatal_signal;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(flushed_signals[i], &sa, NULL);
    }
}

static pthread_key_t thread_exit_key;

static void on_thread_exit(void *unused) {
    (void)unused;
    memtap_guard++;
    memtap_tbuf_t *b = memtap_tbuf_peek();
    if (b)
        memtap_stream_thread_done(b); /* its last records; later ones start a new buffer */
    memtap_tbuf_release_mine();
    memtap_stack_cache_release();
    memtap_pystack_thread_exit();
    memtap_fast_unwind_thread_exit();
    memtap_gate_thread_exit();
    memtap_guard--;
}

__attribute__((constructor(101))) static void memtap_init(void) {
    memtap_guard = 1;
    if (!memtap_real_resolve()) {
        memtap_log("cannot find the real allocator functions", NULL, 0);
        memtap_guard = 0;
        return;
    }
    memtap_unwind_init();
    const char *depth = getenv(MEMTAP_ENV_MAX_DEPTH);
    const char *py_only = getenv(MEMTAP_ENV_PYTHON_ONLY);
    memtap_callstack_configure(depth && atoi(depth) > 0 ? atoi(depth) : MEMTAP_DEFAULT_DEPTH,
                               py_only && !strcmp(py_only, "1"));
    uint32_t flags;
    int fd = memtap_capture_open(&flags);
    if (fd >= 0 && memtap_stream_init() < 0) {
        memtap_log("cannot map the record buffers", NULL, errno);
        close(fd);
        fd = -1;
    }
    if (fd < 0 || begin_capture(fd, flags) < 0) {
        memtap_guard = 0;
        return;
    }
    memtap_state = MEMTAP_STATE_ACTIVE;
    write_modules(1);
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    pthread_key_create(&thread_exit_key, on_thread_exit);
    install_signal_flush();
    memtap_python_prepare();
    memtap_guard = 0;
}

/* The calling thread's buffer, registered in the current capture frame: the first record
 * of a thread in a frame writes its THREAD record (source 0) and registers the buffer.
 * NULL when tracking is off or memory ran out. The frame may end as soon as the lock is
 * let go, unregistering the buffer again: it is returned all the same, and the record's
 * frame check (may_record) sends its caller round again. Judging by b->generation after
 * the unlock dropped that record: racing the failing execs of tests/e2e/progs/stress.c, a
 * thread lost an allocation or a free in 7 runs of 400 (four at a time). */
static __attribute__((noinline)) memtap_tbuf_t *thread_buffer_register(memtap_tbuf_t *b) {
    if (!b) {
        memtap_disable("cannot map a record buffer for a thread", ENOMEM);
        return NULL;
    }
    int registered = 0;
    memtap_lock(&memtap_stream_lock);
    if (memtap_tracking() && memtap_stream_reserve(MEMTAP_ENC_FIXED_MAX + 16) == 0) {
        char name[17] = "";
        prctl(PR_GET_NAME, name);
        pthread_setspecific(thread_exit_key, (void *)1); /* runs on_thread_exit at its end */
        memtap_enc_thread(&memtap_stream, (uint64_t)syscall(SYS_gettid), name);
        memtap_stream_register(b, ++threads_seen, memtap_generation);
        memtap_pace_after_record();
        registered = 1;
    }
    memtap_unlock(&memtap_stream_lock);
    return registered ? b : NULL;
}

static inline __attribute__((always_inline)) memtap_tbuf_t *thread_buffer(void) {
    memtap_tbuf_t *b = memtap_tbuf_mine();
    if (__builtin_expect(b && b->generation == __atomic_load_n(&memtap_generation, __ATOMIC_ACQUIRE), 1))
        return b;
    return thread_buffer_register(b);
}

/* Room for `n` bytes in the thread's buffer: a full one is written out first. */
static int room_for(memtap_tbuf_t *b, size_t n) {
    if (__builtin_expect(b->enc.cap - b->enc.len >= n, 1))
        return 0;
    return memtap_stream_flush_own(b);
}

/* After busy is set (with a full barrier): 0 when the record may go into b, or -1 when a
 * frame is closing (then this waits until it is over) or b is not registered in frame `gen`
 * any more. On -1 busy is cleared and the caller starts over. */
static __attribute__((noinline, cold)) int may_not_record(memtap_tbuf_t *b) {
    __atomic_store_n(&b->busy, 0, __ATOMIC_RELEASE);
    while (__atomic_load_n(&memtap_frame_closing, __ATOMIC_ACQUIRE)) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static inline __attribute__((always_inline)) int may_record(memtap_tbuf_t *b, uint32_t gen) {
    /* gen was read before busy was set: 0 if a frame ended in between (unregistered) */
    if (__builtin_expect(!__atomic_load_n(&memtap_frame_closing, __ATOMIC_SEQ_CST) && gen &&
                             __atomic_load_n(&b->generation, __ATOMIC_RELAXED) == gen,
                         1))
        return 0;
    return may_not_record(b);
}

/* The thread's buffer with room for `room` bytes, and the node of frames[0..n) valid in the
 * buffer's capture frame. A failed exec starts a new frame (new node ids), so a node interned
 * before it is interned again. Returns NULL when tracking is off. */
static memtap_tbuf_t *buffer_with_stack(const uint64_t *frames, int n, int known, size_t room,
                                        uint32_t *node) {
    for (int attempt = 0;; attempt++) {
        uint32_t gen;
        *node = memtap_callstack_intern(frames, n, known, &gen); /* (again in a new frame) */
        memtap_tbuf_t *b = thread_buffer();
        if (!b || room_for(b, room) < 0)
            return NULL;
        if (gen == b->generation)
            return b;
        if (attempt == 3) { /* execs failing in a storm: keep the block, without its stack */
            *node = 0;
            return b;
        }
    }
}

void memtap_track_alloc(unsigned kind, void *p, size_t size) {
    uint64_t frames[memtap_callstack_room()];
    int known;
    int n = memtap_stack_of_call(frames, &known);
    uint32_t node;
    memtap_tbuf_t *b;
    for (;;) {
        if (!(b = buffer_with_stack(frames, n, known, RECORD_ROOM, &node)))
            return;
        uint32_t gen = __atomic_load_n(&b->generation, __ATOMIC_RELAXED);
        memtap_tbuf_enter(b);
        if (may_record(b, gen) == 0)
            break;
    }
    memtap_tbuf_stamp(&b->enc, &b->key, memtap_tbuf_read_key());
    memtap_enc_alloc(&b->enc, kind, (uint64_t)(uintptr_t)p, size, node);
    memtap_tbuf_commit(b);
    memtap_pace_note_record();
}

/* FREE or MUNMAP, before the real call: its ticket orders it before any reuse. */
static void record_free(uint8_t type, void *p, size_t len) {
    memtap_tbuf_t *b;
    uint64_t ticket;
    for (;;) {
        if (!(b = thread_buffer()) || room_for(b, RECORD_ROOM) < 0)
            return;
        uint32_t gen = __atomic_load_n(&b->generation, __ATOMIC_RELAXED);
        __atomic_store_n(&b->busy, 1, __ATOMIC_RELAXED); /* the ticket's barrier publishes it */
        ticket = memtap_tbuf_ticket();
        if (may_record(b, gen) == 0)
            break; /* (a ticket without a record is only a gap in the keys) */
    }
    memtap_tbuf_stamp(&b->enc, &b->key, ticket);
    if (type == MEMTAP_REC_FREE)
        memtap_enc_free(&b->enc, (uint64_t)(uintptr_t)p);
    else
        memtap_enc_munmap(&b->enc, (uint64_t)(uintptr_t)p, len);
    b->key = ticket + 1;
    memtap_tbuf_commit(b);
    memtap_pace_note_record();
}

void memtap_track_free(void *p) { record_free(MEMTAP_REC_FREE, p, 0); }
void memtap_track_munmap(void *p, size_t len) { record_free(MEMTAP_REC_MUNMAP, p, len); }

static void *call_real_realloc(void *ctx, void *p, size_t n, size_t size) {
    (void)ctx;
    return n ? memtap_real.reallocarray(p, n, size) : memtap_real.realloc(p, size);
}

void *memtap_track_realloc(unsigned kind, void *p, size_t n, size_t size) {
    return memtap_track_realloc_with(kind, p, kind == MEMTAP_KIND_REALLOCARRAY ? n : 0, size,
                                     call_real_realloc, NULL);
}

void *memtap_track_realloc_with(unsigned kind, void *p, size_t n, size_t size,
                                memtap_realloc_fn call, void *ctx) {
    uint64_t frames[memtap_callstack_room()];
    int known;
    int depth = memtap_stack_of_call(frames, &known);
    uint32_t node;
    memtap_tbuf_t *b;
    /* the ticket is taken before the real call: a reuse of the old address by another thread
     * reads a later key, so replay sees this FREE first */
    uint64_t ticket = 0;
    for (;;) {
        if (!(b = buffer_with_stack(frames, depth, known, 2 * RECORD_ROOM, &node)))
            break;
        uint32_t gen = __atomic_load_n(&b->generation, __ATOMIC_RELAXED);
        __atomic_store_n(&b->busy, 1, __ATOMIC_RELAXED);
        ticket = memtap_tbuf_ticket();
        if (may_record(b, gen) == 0)
            break;
    }
    void *q = call(ctx, p, n, size);
    int saved = errno;
    if (b) {
        size_t bytes = n ? n * size : size;
        if (p && (q || bytes == 0)) { /* glibc's realloc(p, 0) frees p and returns NULL */
            memtap_tbuf_stamp(&b->enc, &b->key, ticket);
            memtap_enc_free(&b->enc, (uint64_t)(uintptr_t)p);
            b->key = ticket + 1;
        }
        if (q) {
            memtap_tbuf_stamp(&b->enc, &b->key, memtap_tbuf_read_key());
            memtap_enc_alloc(&b->enc, kind, (uint64_t)(uintptr_t)q, bytes, node);
        }
        memtap_tbuf_commit(b);
        memtap_pace_note_record();
    }
    errno = saved;
    return q;
}

void memtap_track_modules_changed(void) { write_modules(1); }

void memtap_track_main_done(void) {
    memtap_lock(&memtap_stream_lock);
    if (memtap_tracking() && memtap_stream_reserve(MEMTAP_ENC_FIXED_MAX) == 0) {
        memtap_enc_u64(&memtap_stream, MEMTAP_REC_MAIN_DONE, memtap_pace_elapsed_ms());
        memtap_pace_after_record();
    }
    memtap_unlock(&memtap_stream_lock);
}

void memtap_track_thread_name(const char *name) {
    memtap_tbuf_t *b = memtap_tbuf_peek();
    memtap_lock(&memtap_stream_lock);
    /* a thread not yet seen gets its name with its THREAD record, at its first allocation */
    if (memtap_tracking() && b && b->generation == memtap_generation &&
        memtap_stream_reserve(MEMTAP_ENC_FIXED_MAX + 64) == 0)
        memtap_enc_thread_name(&memtap_stream, b->index, name);
    memtap_unlock(&memtap_stream_lock);
}

/* Ends the frame with last_type (EXIT or EXEC) and the trailer. Record lock held. */
static void end_frame(uint8_t last_type) {
    uint64_t rss = memtap_rss_bytes();
    uint64_t allocations, frees;
    /* no record may start until the next frame (or for good); those under way are finished
     * and written out, so a failed exec loses none */
    __atomic_store_n(&memtap_frame_closing, 1, __ATOMIC_SEQ_CST);
    memtap_stream_close_threads(&allocations, &frees);
    if (memtap_stream_reserve(4 * RECORD_ROOM) == 0) {
        memtap_stream_stamp_last(); /* after every record the threads wrote */
        memtap_stream.allocations += allocations;
        memtap_stream.frees += frees;
        memtap_enc_time(&memtap_stream, memtap_pace_elapsed_ms(), rss);
        memtap_enc_u64(&memtap_stream, last_type, memtap_pace_elapsed_ms());
        memtap_enc_trailer(&memtap_stream);
    }
    memtap_stream_end(); /* the trie stays: other threads may be reading it */
}

extern char **environ;

char **memtap_exec_prepare(char *const envp[]) {
    if (getpid() != memtap_capture_pid)
        return NULL;
    memtap_callstack_lock();
    memtap_lock(&memtap_stream_lock);
    char *const *src = envp ? envp : environ;
    size_t n = 0;
    while (src && src[n])
        n++;
    static char fdvar[128];
    char **env = memtap_tracking() ? memtap_real.malloc((n + 2) * sizeof *env) : NULL;
    if (!env || memtap_capture_fd_variable(memtap_stream_fd(), fdvar, sizeof fdvar) != 0) {
        memtap_real.free(env);
        memtap_unlock(&memtap_stream_lock);
        memtap_callstack_unlock();
        return NULL; /* the new image will start a capture of its own */
    }
    size_t k = 0, name_len = strlen(MEMTAP_ENV_FD);
    for (size_t i = 0; i < n; i++)
        if (strncmp(src[i], MEMTAP_ENV_FD, name_len) != 0 || src[i][name_len] != '=')
            env[k++] = src[i];
    env[k++] = fdvar;
    env[k] = NULL;
    end_frame(MEMTAP_REC_EXEC);
    fcntl(memtap_stream_fd(), F_SETFD, 0); /* keep the descriptor open across exec */
    return env; /* both locks stay held until exec succeeds or memtap_exec_failed */
}

void memtap_exec_failed(char **newenv) {
    int saved = errno;
    memtap_real.free(newenv);
    int fd = memtap_stream_fd();
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    memtap_callstack_end_frame(); /* its lock is held: no thread reads the trie */
    if (memtap_tracking() && begin_capture(fd, MEMTAP_HDR_CONTINUED) < 0)
        memtap_state = MEMTAP_STATE_OFF;
    __atomic_store_n(&memtap_frame_closing, 0, __ATOMIC_SEQ_CST); /* records go on */
    memtap_unlock(&memtap_stream_lock);
    memtap_callstack_unlock();
    if (memtap_tracking())
        write_modules(1);
    errno = saved;
}

void memtap_finish(void) {
    if (getpid() != memtap_capture_pid)
        return;
    /* exit from a signal handler that interrupted this thread inside memtap: the locks may
     * be this thread's own; the capture stays incomplete, as after a crash */
    if (memtap_guard > 0)
        return;
    memtap_guard++;
    memtap_lock(&memtap_stream_lock);
    if (memtap_tracking()) {
        end_frame(MEMTAP_REC_EXIT);
        close(memtap_stream_fd());
        memtap_state = MEMTAP_STATE_OFF;
        /* threads waiting to record go on untracked (one may be joined by a destructor) */
        __atomic_store_n(&memtap_frame_closing, 0, __ATOMIC_SEQ_CST);
    }
    memtap_unlock(&memtap_stream_lock);
    memtap_guard--;
}

__attribute__((destructor)) static void memtap_fini(void) { memtap_finish(); }
