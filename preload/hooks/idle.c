/* Blocking calls: before the program waits (sleeps, polls, waits for a child or a
 * condition, reads), pending records are pushed to the file, so a program killed while
 * idle leaves them behind. (Not pthread_cond_wait: glibc has two versions of it, and an
 * unversioned wrapper would serve old binaries the new one.) Each wrapper calls the real
 * function with the same arguments and returns what it returned; errno is untouched.
 * May call output/pacing (memtap_idle) and core/lifecycle (the guard). */
#include <dlfcn.h>
#include <errno.h>
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

#include "core/lifecycle.h"
#include "output/pacing.h"

#define EXPORT __attribute__((visibility("default")))

/* The blocking calls: X(return type, name, parameters, arguments). */
#define BLOCKING_CALLS(X)                                                                   \
    X(unsigned int, sleep, (unsigned int s), (s))                                           \
    X(int, usleep, (useconds_t us), (us))                                                   \
    X(int, nanosleep, (const struct timespec *req, struct timespec *rem), (req, rem))       \
    X(int, clock_nanosleep,                                                                 \
      (clockid_t c, int flags, const struct timespec *req, struct timespec *rem),           \
      (c, flags, req, rem))                                                                 \
    X(int, pause, (void), ())                                                               \
    X(int, poll, (struct pollfd * fds, nfds_t n, int timeout), (fds, n, timeout))           \
    X(int, ppoll,                                                                           \
      (struct pollfd * fds, nfds_t n, const struct timespec *t, const sigset_t *mask),      \
      (fds, n, t, mask))                                                                    \
    X(int, select, (int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t),             \
      (n, r, w, e, t))                                                                      \
    X(int, pselect,                                                                         \
      (int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t,                    \
       const sigset_t *m),                                                                  \
      (n, r, w, e, t, m))                                                                   \
    X(int, epoll_wait, (int fd, struct epoll_event *ev, int max, int timeout),              \
      (fd, ev, max, timeout))                                                               \
    X(int, epoll_pwait,                                                                     \
      (int fd, struct epoll_event *ev, int max, int timeout, const sigset_t *m),            \
      (fd, ev, max, timeout, m))                                                            \
    X(int, accept, (int fd, struct sockaddr *a, socklen_t *l), (fd, a, l))                  \
    X(int, accept4, (int fd, struct sockaddr *a, socklen_t *l, int flags),                  \
      (fd, a, l, flags))                                                                    \
    X(pid_t, wait, (int *status), (status))                                                 \
    X(pid_t, waitpid, (pid_t pid, int *status, int options), (pid, status, options))        \
    X(int, waitid, (idtype_t t, id_t id, siginfo_t *info, int options),                     \
      (t, id, info, options))                                                               \
    X(pid_t, wait4, (pid_t pid, int *status, int options, struct rusage *u),                \
      (pid, status, options, u))                                                            \
    X(int, sigsuspend, (const sigset_t *mask), (mask))                                      \
    X(int, sigwait, (const sigset_t *set, int *sig), (set, sig))                            \
    X(int, sigwaitinfo, (const sigset_t *set, siginfo_t *info), (set, info))                \
    X(int, sigtimedwait, (const sigset_t *set, siginfo_t *info, const struct timespec *t),  \
      (set, info, t))                                                                       \
    X(int, pthread_join, (pthread_t t, void **ret), (t, ret))                               \
    X(ssize_t, read, (int fd, void *buf, size_t n), (fd, buf, n))

/* Each wrapper flushes, then calls the real function (looked up at load time, so a first
 * call from a signal handler does not run dlsym; ENOSYS if it could not be found). */
#define DEFINE_HOOK(ret, name, params, args)                                               \
    static ret(*real_##name) params;                                                       \
    EXPORT ret name params {                                                               \
        if (!real_##name)                                                                  \
            *(void **)&real_##name = dlsym(RTLD_NEXT, #name);                              \
        if (!real_##name) {                                                                \
            errno = ENOSYS;                                                                \
            return (ret)-1;                                                                \
        }                                                                                  \
        if (!memtap_guard)                                                                 \
            memtap_idle();                                                                 \
        return real_##name args;                                                           \
    }
BLOCKING_CALLS(DEFINE_HOOK)

#define RESOLVE(ret, name, params, args) *(void **)&real_##name = dlsym(RTLD_NEXT, #name);
__attribute__((constructor)) static void resolve_blocking_calls(void) {
    memtap_guard++;
    BLOCKING_CALLS(RESOLVE)
    memtap_guard--;
}
