/* Blocking calls: before the program waits (sleeps, polls, waits for a child or a
 * condition, reads), pending records are pushed to the file, so a program killed while
 * idle leaves them behind. (Not pthread_cond_wait: glibc has two versions of it, and an
 * unversioned wrapper would serve old binaries the new one.) Each wrapper calls the real function with the same arguments
 * and returns what it returned; errno is untouched. */
#include <dlfcn.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tracker.h"

#define EXPORT __attribute__((visibility("default")))

/* Defines NAME(params) that flushes, then calls the real NAME(args). The real function is
 * looked up once; if it cannot be found the call fails with ENOSYS. */
#define IDLE_HOOK(ret, name, params, args)                                                 \
    EXPORT ret name params {                                                               \
        static ret(*real) params;                                                          \
        if (!real)                                                                         \
            *(void **)&real = dlsym(RTLD_NEXT, #name);                                     \
        if (!memtap_guard)                                                                 \
            memtap_idle();                                                                 \
        return real args;                                                                  \
    }

IDLE_HOOK(unsigned int, sleep, (unsigned int s), (s))
IDLE_HOOK(int, usleep, (useconds_t us), (us))
IDLE_HOOK(int, nanosleep, (const struct timespec *req, struct timespec *rem), (req, rem))
IDLE_HOOK(int, clock_nanosleep,
          (clockid_t c, int flags, const struct timespec *req, struct timespec *rem),
          (c, flags, req, rem))
IDLE_HOOK(int, pause, (void), ())
IDLE_HOOK(int, poll, (struct pollfd * fds, nfds_t n, int timeout), (fds, n, timeout))
IDLE_HOOK(int, ppoll,
          (struct pollfd * fds, nfds_t n, const struct timespec *t, const sigset_t *mask),
          (fds, n, t, mask))
IDLE_HOOK(int, select, (int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t),
          (n, r, w, e, t))
IDLE_HOOK(int, pselect,
          (int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t, const sigset_t *m),
          (n, r, w, e, t, m))
IDLE_HOOK(int, epoll_wait, (int fd, struct epoll_event *ev, int max, int timeout),
          (fd, ev, max, timeout))
IDLE_HOOK(int, epoll_pwait,
          (int fd, struct epoll_event *ev, int max, int timeout, const sigset_t *m),
          (fd, ev, max, timeout, m))
IDLE_HOOK(int, accept, (int fd, struct sockaddr *a, socklen_t *l), (fd, a, l))
IDLE_HOOK(int, accept4, (int fd, struct sockaddr *a, socklen_t *l, int flags), (fd, a, l, flags))
IDLE_HOOK(pid_t, wait, (int *status), (status))
IDLE_HOOK(pid_t, waitpid, (pid_t pid, int *status, int options), (pid, status, options))
IDLE_HOOK(int, waitid, (idtype_t t, id_t id, siginfo_t *info, int options),
          (t, id, info, options))
IDLE_HOOK(pid_t, wait4, (pid_t pid, int *status, int options, struct rusage *u),
          (pid, status, options, u))
IDLE_HOOK(int, sigsuspend, (const sigset_t *mask), (mask))
IDLE_HOOK(int, sigwait, (const sigset_t *set, int *sig), (set, sig))
IDLE_HOOK(int, sigwaitinfo, (const sigset_t *set, siginfo_t *info), (set, info))
IDLE_HOOK(int, sigtimedwait, (const sigset_t *set, siginfo_t *info, const struct timespec *t),
          (set, info, t))
IDLE_HOOK(int, pthread_join, (pthread_t t, void **ret), (t, ret))
IDLE_HOOK(ssize_t, read, (int fd, void *buf, size_t n), (fd, buf, n))
