/* Tracker state for libmemtap.so: opening the capture, the record lock, per-thread ids,
 * the flush thread, fork children, exec hand-over and the end of the capture. */
#include "tracker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "memtap/format.h"
#include "modules.h"
#include "real.h"
#include "record.h"
#include "sink.h"
#include "stacks.h"
#include "trie.h"
#include "unwind.h"

__thread int memtap_guard __attribute__((tls_model("initial-exec")));
int memtap_state;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER; /* guards modules_scratch */
static memtap_enc_t enc;
static memtap_enc_t modules_scratch;
static memtap_sink_t sink;
static memtap_trie_t trie;
static int max_depth = MEMTAP_DEFAULT_DEPTH;
static int force;
static char output_base[PATH_MAX];
static uint64_t start_ns;
static pid_t capture_pid; /* a vfork child shares our memory but must not touch the capture */

/* Thread ids restart in each capture: a capture's generation changes on fork and exec. */
static uint32_t generation = 1;
static uint32_t threads_seen, current_thread;
static __thread uint32_t tls_thread_index, tls_thread_gen __attribute__((tls_model("initial-exec")));

static uint64_t now_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t elapsed_ms(void) { return (now_ns(CLOCK_MONOTONIC) - start_ns) / 1000000u; }

/* Any failure: say it once, stop tracking, let the program run on. Called with lock held
 * or during init. */
static void disable(const char *what, int err) {
    if (__atomic_exchange_n(&memtap_state, MEMTAP_STATE_OFF, __ATOMIC_ACQ_REL) !=
        MEMTAP_STATE_OFF)
        memtap_log(what, output_base[0] ? output_base : NULL, err);
}

/* Hands the buffered records to the LZ4 sink. */
static int drain(void) {
    if (enc.len && memtap_sink_put(&sink, enc.buf, enc.len) < 0) {
        disable("cannot write the capture", sink.error);
        enc.len = 0;
        return -1;
    }
    enc.len = 0;
    return 0;
}

static int reserve(size_t n) {
    if (enc.cap - enc.len >= n)
        return 0;
    return drain();
}

/* Appends raw bytes of encoded records (the stream may be cut anywhere between chunks). */
static int append_bytes(const uint8_t *p, size_t n) {
    while (n > 0) {
        if (enc.len == enc.cap && drain() < 0)
            return -1;
        size_t k = enc.cap - enc.len < n ? enc.cap - enc.len : n;
        memcpy(enc.buf + enc.len, p, k);
        enc.len += k;
        p += k;
        n -= k;
    }
    return 0;
}

/* Writes the current module map. Takes modules_lock, then the record lock for appending. */
static void write_modules(int take_lock) {
    pthread_mutex_lock(&modules_lock);
    int rc = memtap_modules_encode(&modules_scratch);
    if (take_lock)
        pthread_mutex_lock(&lock);
    if (rc < 0)
        disable("cannot list the loaded modules", ENOMEM);
    else if (memtap_state == MEMTAP_STATE_ACTIVE)
        append_bytes(modules_scratch.buf, modules_scratch.len);
    if (take_lock)
        pthread_mutex_unlock(&lock);
    pthread_mutex_unlock(&modules_lock);
}

static size_t read_file(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t n = 0;
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    return n;
}

static uint64_t rss_bytes(void) {
    char buf[128];
    size_t n = read_file("/proc/self/statm", buf, sizeof buf - 1);
    buf[n] = '\0';
    unsigned long size, resident;
    if (sscanf(buf, "%lu %lu", &size, &resident) != 2)
        return 0;
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Starts a capture frame on fd: sink, header, module map. Lock held or single-threaded. */
static int begin_capture(int fd, uint32_t flags) {
    if (memtap_sink_open(&sink, fd, NULL) < 0) {
        memtap_log("cannot start the capture", output_base, sink.error);
        return -1;
    }
    memtap_enc_reset(&enc);
    if (memtap_trie_init(&trie) < 0) {
        memtap_log("cannot map memory for stacks", NULL, errno);
        return -1;
    }
    static char cmdline[16 * 1024], exe[PATH_MAX];
    memtap_header_info_t h = {0};
    h.flags = flags;
    h.pid = (uint64_t)getpid();
    h.ppid = (uint64_t)getppid();
    h.start_unix_ns = now_ns(CLOCK_REALTIME);
    h.page_size = (uint64_t)sysconf(_SC_PAGESIZE);
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    h.exe = exe;
    h.cmdline = cmdline;
    h.cmdline_len = read_file("/proc/self/cmdline", cmdline, sizeof cmdline);
    memtap_enc_header(&enc, &h);
    generation++;
    threads_seen = current_thread = 0;
    start_ns = now_ns(CLOCK_MONOTONIC);
    capture_pid = getpid();
    return 0;
}

static void *flusher(void *arg);

/* The flush thread writes a time marker every 100 ms and pushes data to the file every
 * 500 ms, so a killed program leaves a capture readable up to its last half second. */
static void start_flusher(void) {
    pthread_t t;
    pthread_attr_t attr;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* signals stay with the program's threads */
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    if (pthread_create(&t, &attr, flusher, (void *)(uintptr_t)generation) != 0)
        memtap_log("cannot start the flush thread; data is written when buffers fill", NULL, 0);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void *flusher(void *arg) {
    (void)arg;
    memtap_guard = 1;
    prctl(PR_SET_NAME, "memtap-flush");
    unsigned tick = 0;
    for (;;) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        uint64_t rss = rss_bytes();
        pthread_mutex_lock(&lock);
        if (memtap_state != MEMTAP_STATE_ACTIVE) {
            pthread_mutex_unlock(&lock);
            return NULL;
        }
        if (reserve(MEMTAP_ENC_FIXED_MAX) == 0)
            memtap_enc_time(&enc, elapsed_ms(), rss);
        if (++tick % 5 == 0 && drain() == 0 && memtap_sink_flush(&sink) < 0)
            disable("cannot write the capture", sink.error);
        pthread_mutex_unlock(&lock);
    }
}

/* Opens path for a new capture: exclusive, never through a symlink. Returns fd or -1. */
static int open_capture(const char *path) {
    int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
    return open(path, flags, 0644);
}

/* A fork child or a process started without our exec hook: <output>.<pid>. */
static int open_child_capture(void) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s.%ld", output_base, (long)getpid());
    int fd = open_capture(path);
    if (fd < 0)
        memtap_log("cannot create the child's capture", path, errno);
    return fd;
}

/* Parses MEMTAP_FD "fd:pid:dev:ino"; returns fd when it was handed to this very process and
 * still names the same file, else -1. */
static int inherited_fd(const char *v, int *for_me) {
    long fd, pid;
    unsigned long long dev, ino;
    *for_me = 0;
    if (!v || sscanf(v, "%ld:%ld:%llu:%llu", &fd, &pid, &dev, &ino) != 4)
        return -1;
    if (pid != (long)getpid())
        return -1;
    *for_me = 1;
    struct stat st;
    if (fd < 0 || fd > INT_MAX || fstat((int)fd, &st) != 0 || st.st_dev != (dev_t)dev ||
        st.st_ino != (ino_t)ino)
        return -1;
    fcntl((int)fd, F_SETFD, FD_CLOEXEC);
    return (int)fd;
}

static void publish_fd(int fd) {
    struct stat st;
    char v[96];
    if (fstat(fd, &st) != 0)
        return;
    snprintf(v, sizeof v, "%d:%ld:%llu:%llu", fd, (long)getpid(), (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    setenv(MEMTAP_ENV_FD, v, 1);
}

/* fork from a signal handler that interrupted this thread inside memtap: our locks may be
 * held by this very thread, so they are not taken and the child does not track. */
static __thread int fork_in_hook __attribute__((tls_model("initial-exec")));

static void atfork_prepare(void) {
    fork_in_hook = memtap_guard > 0;
    memtap_guard++;
    if (fork_in_hook)
        return;
    pthread_mutex_lock(&modules_lock);
    pthread_mutex_lock(&lock);
}

static void atfork_parent(void) {
    if (!fork_in_hook) {
        pthread_mutex_unlock(&lock);
        pthread_mutex_unlock(&modules_lock);
    }
    memtap_guard--;
}

static void atfork_child(void) {
    pthread_mutex_init(&lock, NULL);
    pthread_mutex_init(&modules_lock, NULL);
    if (fork_in_hook)
        memtap_state = MEMTAP_STATE_OFF;
    if (memtap_state == MEMTAP_STATE_ACTIVE) {
        /* The parent's frame and stacks are not ours: start a capture of our own. */
        memtap_sink_release(&sink);
        close(sink.fd);
        memtap_trie_destroy(&trie);
        int fd = open_child_capture();
        if (fd < 0 || begin_capture(fd, MEMTAP_HDR_FORK_CHILD) < 0) {
            memtap_state = MEMTAP_STATE_OFF;
            if (fd >= 0)
                close(fd);
        } else {
            write_modules(0);
            start_flusher();
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
    if (getpid() == capture_pid && pthread_mutex_trylock(&lock) == 0) {
        if (memtap_state == MEMTAP_STATE_ACTIVE && drain() == 0)
            memtap_sink_flush(&sink);
        memtap_state = MEMTAP_STATE_OFF;
        pthread_mutex_unlock(&lock);
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
    memtap_stack_cache_release();
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
    if (depth && atoi(depth) > 0)
        max_depth = atoi(depth) > MEMTAP_MAX_DEPTH ? MEMTAP_MAX_DEPTH : atoi(depth);
    const char *f = getenv(MEMTAP_ENV_FORCE);
    force = f && f[0] == '1';
    const char *out = getenv(MEMTAP_ENV_OUTPUT);
    if (out && *out) {
        snprintf(output_base, sizeof output_base, "%s", out);
    } else {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        const char *base = strrchr(exe, '/');
        snprintf(output_base, sizeof output_base, "memtap-%s.%ld.memtap", base ? base + 1 : "prog",
                 (long)getpid());
        setenv(MEMTAP_ENV_OUTPUT, output_base, 1);
    }

    int for_me;
    int fd = inherited_fd(getenv(MEMTAP_ENV_FD), &for_me);
    uint32_t flags = 0;
    if (fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) == 0 && st.st_size > 0)
            flags |= MEMTAP_HDR_AFTER_EXEC; /* the image before us wrote its frame already */
    } else if (for_me || getenv(MEMTAP_ENV_FD)) {
        fd = open_child_capture(); /* descriptor lost across exec, or spawned without fork */
    } else {
        fd = open_capture(output_base);
        if (fd < 0)
            memtap_log("cannot create the capture", output_base, errno);
        else
            publish_fd(fd);
    }

    enc.cap = MEMTAP_SINK_CHUNK;
    enc.buf = mmap(NULL, enc.cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (fd < 0 || enc.buf == MAP_FAILED || begin_capture(fd, flags) < 0) {
        if (enc.buf == MAP_FAILED)
            memtap_log("cannot map the record buffer", NULL, errno);
        memtap_guard = 0;
        return;
    }
    memtap_state = MEMTAP_STATE_ACTIVE;
    write_modules(1);
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    pthread_key_create(&thread_exit_key, on_thread_exit);
    install_signal_flush();
    start_flusher();
    memtap_guard = 0;
}

/* Gives the calling thread its capture-local index and writes THREAD / THREAD_SWITCH. */
static void switch_thread(void) {
    if (tls_thread_gen != generation) {
        char name[32] = "";
        prctl(PR_GET_NAME, name);
        tls_thread_gen = generation;
        tls_thread_index = ++threads_seen;
        pthread_setspecific(thread_exit_key, (void *)1); /* runs on_thread_exit at its end */
        if (reserve(MEMTAP_ENC_FIXED_MAX + sizeof name) == 0)
            memtap_enc_thread(&enc, (uint64_t)syscall(SYS_gettid), name);
        current_thread = tls_thread_index;
    }
    if (current_thread != tls_thread_index) {
        current_thread = tls_thread_index;
        if (reserve(MEMTAP_ENC_FIXED_MAX) == 0)
            memtap_enc_u64(&enc, MEMTAP_REC_THREAD_SWITCH, current_thread);
    }
}

static int emit_node(uint32_t id, uint32_t parent, uint64_t frame) {
    if (reserve(MEMTAP_ENC_FIXED_MAX) < 0)
        return -1;
    memtap_enc_node(&enc, id, parent, frame);
    return 0;
}

static uint32_t intern_stack(const uint64_t *frames, int n) {
    uint32_t leaf = 0;
    if (memtap_stack_intern(&trie, generation, frames, n, max_depth, emit_node, &leaf) < 0)
        disable("out of memory for stacks", ENOMEM);
    return leaf;
}

static void record_alloc(unsigned kind, void *p, size_t size, const uint64_t *frames, int n) {
    switch_thread();
    uint32_t node = intern_stack(frames, n);
    if (memtap_state == MEMTAP_STATE_ACTIVE && reserve(MEMTAP_ENC_FIXED_MAX) == 0)
        memtap_enc_alloc(&enc, kind, (uint64_t)(uintptr_t)p, size, node);
}

void memtap_track_alloc(unsigned kind, void *p, size_t size) {
    uint64_t frames[max_depth + MEMTAP_OWN_FRAMES_MAX];
    int n = memtap_unwind(frames, max_depth);
    pthread_mutex_lock(&lock);
    if (memtap_state == MEMTAP_STATE_ACTIVE)
        record_alloc(kind, p, size, frames, n);
    pthread_mutex_unlock(&lock);
}

void memtap_track_free(void *p) {
    pthread_mutex_lock(&lock);
    if (memtap_state == MEMTAP_STATE_ACTIVE && reserve(MEMTAP_ENC_FIXED_MAX) == 0)
        memtap_enc_free(&enc, (uint64_t)(uintptr_t)p);
    pthread_mutex_unlock(&lock);
}

void memtap_track_munmap(void *p, size_t len) {
    pthread_mutex_lock(&lock);
    if (memtap_state == MEMTAP_STATE_ACTIVE && reserve(MEMTAP_ENC_FIXED_MAX) == 0)
        memtap_enc_munmap(&enc, (uint64_t)(uintptr_t)p, len);
    pthread_mutex_unlock(&lock);
}

void *memtap_track_realloc(unsigned kind, void *p, size_t n, size_t size) {
    uint64_t frames[max_depth + MEMTAP_OWN_FRAMES_MAX];
    int depth = memtap_unwind(frames, max_depth);
    pthread_mutex_lock(&lock);
    void *q = kind == MEMTAP_KIND_REALLOCARRAY ? memtap_real.reallocarray(p, n, size)
                                               : memtap_real.realloc(p, size);
    int saved = errno;
    if (memtap_state == MEMTAP_STATE_ACTIVE) {
        size_t bytes = kind == MEMTAP_KIND_REALLOCARRAY ? n * size : size;
        if (q || bytes == 0) { /* glibc's realloc(p, 0) frees p and returns NULL */
            if (p && reserve(MEMTAP_ENC_FIXED_MAX) == 0)
                memtap_enc_free(&enc, (uint64_t)(uintptr_t)p);
        }
        if (q)
            record_alloc(kind, q, bytes, frames, depth);
    }
    pthread_mutex_unlock(&lock);
    errno = saved;
    return q;
}

void memtap_track_modules_changed(void) { write_modules(1); }

void memtap_track_thread_name(const char *name) {
    pthread_mutex_lock(&lock);
    /* a thread not yet seen gets its name with its THREAD record, at its first allocation */
    if (memtap_state == MEMTAP_STATE_ACTIVE && tls_thread_gen == generation &&
        reserve(MEMTAP_ENC_FIXED_MAX + 64) == 0)
        memtap_enc_thread_name(&enc, tls_thread_index, name);
    pthread_mutex_unlock(&lock);
}

/* Ends the frame; lock held. */
static void end_frame(uint8_t last_type) {
    uint64_t rss = rss_bytes();
    if (reserve(3 * MEMTAP_ENC_FIXED_MAX) == 0) {
        memtap_enc_time(&enc, elapsed_ms(), rss);
        memtap_enc_u64(&enc, last_type, elapsed_ms());
        memtap_enc_trailer(&enc);
    }
    if (drain() == 0 && memtap_sink_end(&sink) < 0)
        disable("cannot write the capture", sink.error);
    memtap_sink_release(&sink);
    memtap_trie_destroy(&trie);
}

extern char **environ;

char **memtap_exec_prepare(char *const envp[]) {
    if (getpid() != capture_pid)
        return NULL;
    pthread_mutex_lock(&lock);
    if (memtap_state != MEMTAP_STATE_ACTIVE) {
        pthread_mutex_unlock(&lock);
        return NULL;
    }
    char *const *src = envp ? envp : environ;
    size_t n = 0;
    while (src && src[n])
        n++;
    static char fdvar[96];
    struct stat st;
    char **env = memtap_real.malloc((n + 2) * sizeof *env);
    if (!env || fstat(sink.fd, &st) != 0) {
        memtap_real.free(env);
        pthread_mutex_unlock(&lock);
        return NULL; /* the new image will start a capture of its own */
    }
    snprintf(fdvar, sizeof fdvar, "%s=%d:%ld:%llu:%llu", MEMTAP_ENV_FD, sink.fd, (long)getpid(),
             (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    size_t k = 0, name_len = strlen(MEMTAP_ENV_FD);
    for (size_t i = 0; i < n; i++)
        if (strncmp(src[i], MEMTAP_ENV_FD, name_len) != 0 || src[i][name_len] != '=')
            env[k++] = src[i];
    env[k++] = fdvar;
    env[k] = NULL;
    end_frame(MEMTAP_REC_EXEC);
    fcntl(sink.fd, F_SETFD, 0); /* keep the descriptor open across exec */
    return env; /* lock stays held until exec succeeds or memtap_exec_failed */
}

void memtap_exec_failed(char **newenv) {
    int saved = errno;
    memtap_real.free(newenv);
    fcntl(sink.fd, F_SETFD, FD_CLOEXEC);
    if (memtap_state == MEMTAP_STATE_ACTIVE) {
        if (begin_capture(sink.fd, MEMTAP_HDR_CONTINUED) < 0)
            memtap_state = MEMTAP_STATE_OFF;
    }
    pthread_mutex_unlock(&lock);
    if (memtap_state == MEMTAP_STATE_ACTIVE)
        write_modules(1);
    errno = saved;
}

void memtap_finish(void) {
    if (getpid() != capture_pid)
        return;
    memtap_guard++;
    pthread_mutex_lock(&lock);
    if (memtap_state == MEMTAP_STATE_ACTIVE) {
        end_frame(MEMTAP_REC_EXIT);
        close(sink.fd);
        memtap_state = MEMTAP_STATE_OFF;
    }
    pthread_mutex_unlock(&lock);
    memtap_guard--;
}

__attribute__((destructor)) static void memtap_fini(void) { memtap_finish(); }
