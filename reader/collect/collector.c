/* The collector's poll loop: hellos on the socket, rounds of draining every region, the
 * end of processes (pidfds), pieces written at least every 500 ms, and the decision to
 * stop (see collector.h). */
#include "collect/collector.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "collect/live.h"
#include "collect/pieces.h"
#include "collect/region.h"
#include "memtap/collector.h"

#define PIECE_EVERY_NS (500 * 1000000ull)
#define POLL_BUSY_MS 2
#define POLL_IDLE_MS 50
#define HELLO_WAIT_MS 2000
#define NOTICE_AFTER_NS (2 * 1000000000ull)
#define ORPHAN_GRACE_NS (300 * 1000000ull) /* for a hello from an orphan of the run */

typedef struct {
    pid_t pid;
    int pidfd; /* -1 when pidfd_open is not available: then kill(pid, 0) is polled */
    int ended;
    int status; /* the signal that ended it, when known */
} proc_t;

struct memtap_collector {
    int listen_fd;
    memtap_piece_file_t file;
    memtap_region_t **regions;
    size_t nregions, cap_regions;
    proc_t *procs;
    size_t nprocs, cap_procs;
    pid_t root;
    const char *path; /* the capture, read back for the leak scans' live tables */
    int root_exited, root_status;
    int said_write_error;
    unsigned processes, images_killed;
    int root_seen;
};

static volatile sig_atomic_t stop_requested;
static void on_stop(int sig) {
    (void)sig;
    stop_requested = 1;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int memtap_collector_open(memtap_collector_t **out, char *name, size_t cap) {
    memtap_collector_t *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    memtap_piece_file_init(&c->file, -1, NULL);
    c->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    unsigned rnd = 0;
    int rfd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (rfd >= 0) {
        if (read(rfd, &rnd, sizeof rnd) != sizeof rnd)
            rnd = 0;
        close(rfd);
    }
    rnd ^= (unsigned)now_ns();
    snprintf(name, cap, "memtap-%ld-%08x", (long)getpid(), rnd);
    size_t len = strlen(name);
    memcpy(sa.sun_path + 1, name, len); /* abstract: sun_path[0] is NUL */
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
    if (c->listen_fd < 0 || bind(c->listen_fd, (struct sockaddr *)&sa, salen) != 0 ||
        listen(c->listen_fd, 128) != 0) {
        int e = errno;
        if (c->listen_fd >= 0)
            close(c->listen_fd);
        free(c);
        errno = e;
        return -1;
    }
    /* orphans of the run come to us: we see them end, and their end tells us the run's */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    *out = c;
    return 0;
}

static proc_t *find_proc(memtap_collector_t *c, pid_t pid) {
    for (size_t i = c->nprocs; i-- > 0;)
        if (c->procs[i].pid == pid && !c->procs[i].ended)
            return &c->procs[i];
    return NULL;
}

static proc_t *add_proc(memtap_collector_t *c, pid_t pid) {
    proc_t *p = find_proc(c, pid);
    if (p)
        return p;
    if (c->nprocs == c->cap_procs) {
        size_t n = c->cap_procs ? 2 * c->cap_procs : 16;
        proc_t *v = realloc(c->procs, n * sizeof *v);
        if (!v)
            return NULL;
        c->procs = v;
        c->cap_procs = n;
    }
    p = &c->procs[c->nprocs++];
    c->processes++;
    p->pid = pid;
    p->ended = 0;
    p->status = 0;
    p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    return p;
}

static int add_region(memtap_collector_t *c, memtap_region_t *r) {
    if (c->nregions == c->cap_regions) {
        size_t n = c->cap_regions ? 2 * c->cap_regions : 16;
        memtap_region_t **v = realloc(c->regions, n * sizeof *v);
        if (!v)
            return -1;
        c->regions = v;
        c->cap_regions = n;
    }
    c->regions[c->nregions++] = r;
    return 0;
}

/* One hello: the region's memfd and the sender's pid (from the kernel, SO_PEERCRED). */
static void take_hello(memtap_collector_t *c, int conn) {
    struct pollfd pf = {.fd = conn, .events = POLLIN};
    if (poll(&pf, 1, HELLO_WAIT_MS) != 1)
        return;
    memtap_hello_t hello;
    struct iovec iov = {.iov_base = &hello, .iov_len = sizeof hello};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                         .msg_controllen = sizeof ctl.buf};
    ssize_t n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
    int fd = -1;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    if (n > 0 && cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
        memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    struct ucred cred;
    socklen_t cl = sizeof cred;
    char answer = 0;
    memtap_region_t *r = NULL;
    if (fd >= 0 && n == (ssize_t)sizeof hello && hello.magic == MEMTAP_HELLO_MAGIC &&
        hello.version == MEMTAP_SHM_VERSION && hello.size == MEMTAP_SHM_SIZE &&
        getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0 && (r = malloc(sizeof *r))) {
        if (memtap_region_map(r, fd, cred.pid, cred.pid == c->root) == 0 && add_proc(c, cred.pid) &&
            add_region(c, r) == 0) {
            answer = 1;
            c->root_seen |= cred.pid == c->root;
            if (c->said_write_error) /* it starts, and stops at once, quietly */
                __atomic_store_n(&r->ctl->collector_gone, 1, __ATOMIC_RELEASE);
        } else {
            if (r->base)
                memtap_region_free(r);
            else
                fprintf(stderr, "memtap: process %ld: %s\n", (long)cred.pid, r->error);
            free(r);
        }
    }
    if (fd >= 0)
        close(fd);
    if (send(conn, &answer, 1, MSG_NOSIGNAL) != 1 && answer) {
        /* it gave up waiting: it runs untracked; what it wrote is its image's beginning */
    }
}

static void accept_hellos(memtap_collector_t *c) {
    for (;;) {
        int conn = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0)
            return;
        take_hello(c, conn);
        close(conn);
    }
}

/* The process has ended: its regions are drained one last time and finished. */
static void end_proc(memtap_collector_t *c, proc_t *p) {
    p->ended = 1;
    if (p->pidfd >= 0)
        close(p->pidfd);
    p->pidfd = -1;
    for (size_t i = 0; i < c->nregions; i++) {
        memtap_region_t *r = c->regions[i];
        if (!r || r->pid != p->pid)
            continue;
        int in_image = memtap_region_in_image(r);
        memtap_region_finish(r, &c->file, p->status);
        c->images_killed += in_image;
        if (r->broken)
            fprintf(stderr, "memtap: process %ld: %s; its capture stops there\n", (long)r->pid,
                    r->error);
        memtap_region_free(r);
        free(r);
        c->regions[i] = NULL;
    }
}

/* Reaps our children (the root, and orphans of the run: we are their subreaper). */
static void reap(memtap_collector_t *c) {
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        if (pid == c->root) {
            c->root_exited = 1;
            c->root_status = st;
        }
        proc_t *p = find_proc(c, pid);
        if (p && WIFSIGNALED(st))
            p->status = WTERMSIG(st);
    }
}

/* 1 while a child of ours (an orphan of the run, which may not have said hello yet) runs. */
static int children_left(void) {
    siginfo_t info;
    info.si_pid = 0;
    return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0;
}

static int proc_alive(const proc_t *p) {
    if (p->pidfd >= 0) {
        struct pollfd pf = {.fd = p->pidfd, .events = POLLIN};
        return poll(&pf, 1, 0) == 0;
    }
    return kill(p->pid, 0) == 0 || errno != ESRCH;
}

/* Fills r's live table (its count in r->ctl->live_count) in a child process: the replay
 * reads back the capture being written, and whatever goes wrong there (a bug, memory
 * running out) must not take the collector, and so every process's records, with it. The
 * table is in the shared region, so the child's writes are the collector's. 0 when the
 * table is filled; -1 with the reason in err. */
static int live_table_apart(const memtap_collector_t *c, memtap_region_t *r, char *err,
                            size_t cap) {
    int pipefd[2];
    if (pipe(pipefd) < 0) {
        snprintf(err, cap, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t child = fork();
    if (child == 0) {
        close(pipefd[0]);
        if (getenv("MEMTAP_TEST_SCAN_CRASH")) /* the e2e test of this isolation */
            raise(SIGSEGV);
        memtap_shm_block_t *table = (memtap_shm_block_t *)(r->base + MEMTAP_SHM_LIVE_OFFSET);
        char why[200] = "";
        long n = memtap_collect_live(c->path, r->pid, table, MEMTAP_SHM_LIVE_MAX, why, sizeof why);
        if (n >= 0)
            r->ctl->live_count = (uint64_t)n;
        else if (write(pipefd[1], why, strlen(why)) < 0)
            _exit(2);
        _exit(n >= 0 ? 0 : 1);
    }
    close(pipefd[1]);
    if (child < 0) {
        close(pipefd[0]);
        snprintf(err, cap, "fork: %s", strerror(errno));
        return -1;
    }
    ssize_t got = read(pipefd[0], err, cap - 1);
    err[got > 0 ? got : 0] = 0;
    close(pipefd[0]);
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status))
        snprintf(err, cap, "reading its records back failed (signal %d)", WTERMSIG(status));
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* A process at its exit asks for the blocks its image still holds (preload/leaks): what it
 * recorded is in its ring (it flushed before asking); once that is written to the file, the
 * image is replayed from there and the table goes into its region. The loop waits meanwhile
 * (the replay reads at hundreds of MB a second). */
static void answer_scan(memtap_collector_t *c, memtap_region_t *r) {
    memtap_shm_control_t *ctl = r->ctl;
    if (__atomic_load_n(&ctl->scan_state, __ATOMIC_ACQUIRE) != MEMTAP_SCAN_ASKED)
        return;
    uint32_t answer = MEMTAP_SCAN_FAILED;
    char err[200] = "";
    if (c->file.error) { /* said already: the capture is not written any more */
        __atomic_store_n(&ctl->scan_state, answer, __ATOMIC_RELEASE);
        syscall(SYS_futex, &ctl->scan_state, FUTEX_WAKE, 1, NULL, NULL, 0);
        return;
    }
    if (memtap_region_drain(r, &c->file) >= 0 && r->stream_open && !c->file.error &&
        memtap_piece_flush(&c->file, &r->stream, 0, 0, 0) == 0) {
        if (live_table_apart(c, r, err, sizeof err) == 0)
            answer = MEMTAP_SCAN_READY;
    }
    if (answer != MEMTAP_SCAN_READY && !c->file.error)
        fprintf(stderr, "memtap: process %ld: no leak classes: %s\n", (long)r->pid,
                err[0] ? err : "its records could not be read back");
    __atomic_store_n(&ctl->scan_state, answer, __ATOMIC_RELEASE);
    syscall(SYS_futex, &ctl->scan_state, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* The capture cannot be written (a full disk): said once, and every process stops
 * tracking (quietly: this line speaks for them all); the program goes on. */
static void stop_on_write_error(memtap_collector_t *c) {
    if (!c->file.error || c->said_write_error)
        return;
    c->said_write_error = 1;
    fprintf(stderr, "memtap: cannot write the capture %s: %s; tracking is off, the program goes on\n",
            c->path, strerror(c->file.error));
    for (size_t i = 0; i < c->nregions; i++)
        if (c->regions[i])
            __atomic_store_n(&c->regions[i]->ctl->collector_gone, 1, __ATOMIC_RELEASE);
}

static long drain_all(memtap_collector_t *c) {
    long moved = 0;
    uint64_t now = now_ns();
    for (size_t i = 0; i < c->nregions; i++) {
        memtap_region_t *r = c->regions[i];
        if (!r)
            continue;
        long n = memtap_region_drain(r, &c->file);
        if (n > 0)
            moved += n;
        answer_scan(c, r);
        __atomic_store_n(&r->ctl->collector_beat_ns, now, __ATOMIC_RELEASE);
        if (r->stream_open && r->stream.len && now >= r->stream.since_ns + PIECE_EVERY_NS)
            memtap_piece_flush(&c->file, &r->stream, 0, 0, 0);
    }
    stop_on_write_error(c);
    return moved;
}

static size_t live_procs(const memtap_collector_t *c) {
    size_t n = 0;
    for (size_t i = 0; i < c->nprocs; i++)
        n += !c->procs[i].ended;
    return n;
}

static void say_waiting(const memtap_collector_t *c) {
    char pids[256] = "";
    size_t len = 0, shown = 0, live = live_procs(c);
    for (size_t i = 0; i < c->nprocs && shown < 8; i++)
        if (!c->procs[i].ended && len < sizeof pids - 16) {
            len += (size_t)snprintf(pids + len, sizeof pids - len, "%s%ld", shown ? ", " : "",
                                    (long)c->procs[i].pid);
            shown++;
        }
    fprintf(stderr,
            "memtap: the program exited; waiting for %zu process%s it started (pid %s%s) to "
            "end; Ctrl-C stops waiting\n",
            live, live == 1 ? "" : "es", pids, live > shown ? ", ..." : "");
}

int memtap_collector_run(memtap_collector_t *c, int capture_fd, const char *path, pid_t root) {
    c->file.fd = capture_fd;
    c->path = path;
    c->root = root;
    struct sigaction sa = {0}, old[3];
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
    int root_pidfd = (int)syscall(SYS_pidfd_open, root, 0);
    int timeout = POLL_BUSY_MS, told = 0, handlers = 0;
    uint64_t exited_at = 0;
    for (;;) {
        size_t cap = c->nprocs + 2, n = 0;
        struct pollfd *pf = calloc(cap, sizeof *pf);
        if (pf) {
            pf[n++] = (struct pollfd){.fd = c->listen_fd, .events = POLLIN};
            if (root_pidfd >= 0 && !c->root_exited)
                pf[n++] = (struct pollfd){.fd = root_pidfd, .events = POLLIN};
            for (size_t i = 0; i < c->nprocs; i++)
                if (!c->procs[i].ended && c->procs[i].pidfd >= 0)
                    pf[n++] = (struct pollfd){.fd = c->procs[i].pidfd, .events = POLLIN};
            poll(pf, n, timeout);
            free(pf);
        } else {
            poll(NULL, 0, timeout);
        }
        accept_hellos(c);
        long moved = drain_all(c);
        reap(c);
        for (size_t i = 0; i < c->nprocs; i++)
            if (!c->procs[i].ended && !proc_alive(&c->procs[i]))
                end_proc(c, &c->procs[i]);
        timeout = moved > 0 ? POLL_BUSY_MS : (timeout * 2 > POLL_IDLE_MS ? POLL_IDLE_MS : timeout * 2);
        if (!c->root_exited)
            continue;
        if (!handlers) { /* from now on ^C and friends mean: stop waiting */
            for (int i = 0; i < 3; i++)
                sigaction(sigs[i], &sa, &old[i]);
            handlers = 1;
            exited_at = now_ns();
        }
        accept_hellos(c); /* a child forked just before the end */
        if (!live_procs(c) && (!children_left() || now_ns() - exited_at >= ORPHAN_GRACE_NS))
            break;
        if (stop_requested)
            break;
        if (!told && now_ns() - exited_at >= NOTICE_AFTER_NS) {
            say_waiting(c);
            told = 1;
        }
    }
    /* processes still running (Ctrl-C): their images end here, as detached */
    for (size_t i = 0; i < c->nprocs; i++)
        if (!c->procs[i].ended)
            end_proc(c, &c->procs[i]);
    for (size_t i = 0; i < c->nregions; i++)
        if (c->regions[i])
            __atomic_store_n(&c->regions[i]->ctl->collector_gone, 1, __ATOMIC_RELEASE);
    if (handlers)
        for (int i = 0; i < 3; i++)
            sigaction(sigs[i], &old[i], NULL);
    if (root_pidfd >= 0)
        close(root_pidfd);
    return c->root_status;
}

void memtap_collector_stats(const memtap_collector_t *c, memtap_collector_stats_t *st) {
    st->file_bytes = c->file.bytes;
    st->processes = c->processes;
    st->images = (unsigned)(c->file.next_stream - 1);
    st->killed = c->images_killed;
    st->root_seen = c->root_seen;
    st->write_error = c->file.error;
}

void memtap_collector_close(memtap_collector_t *c) {
    if (!c)
        return;
    for (size_t i = 0; i < c->nregions; i++)
        if (c->regions[i]) {
            memtap_region_free(c->regions[i]);
            free(c->regions[i]);
        }
    for (size_t i = 0; i < c->nprocs; i++)
        if (c->procs[i].pidfd >= 0)
            close(c->procs[i].pidfd);
    free(c->regions);
    free(c->procs);
    memtap_piece_file_free(&c->file);
    close(c->listen_fd);
    if (c->file.fd >= 0)
        close(c->file.fd);
    free(c);
}
