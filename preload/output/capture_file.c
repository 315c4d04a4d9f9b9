/* Where a capture goes: the descriptor `memtap run` (or the image before an exec) handed to
 * this process, a fork child's <output>.<pid>, or a file of our own; never an existing file
 * (unless forced) and never through a symlink. */
#include "output/capture_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "memtap/collector.h"
#include "memtap/format.h"

static int sys_open(const char *path, int flags, mode_t mode) { return open(path, flags, mode); }
memtap_capture_sys_t memtap_capture_sys = {sys_open, fstat};

static int force;
static char output_base[PATH_MAX];

const char *memtap_capture_path(void) { return output_base[0] ? output_base : NULL; }

int memtap_capture_children(void) {
    const char *v = getenv(MEMTAP_ENV_NO_CHILDREN);
    return !(v && v[0] == '1');
}

/* Opens path for a new capture: exclusive, never through a symlink. Returns fd or -1. */
static int open_capture(const char *path) {
    int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
    return memtap_capture_sys.open(path, flags, 0644);
}

/* A fork child or a process started without our exec hook: <output>.<pid>. */
int memtap_capture_open_child(void) {
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
    if (fd < 0 || fd > INT_MAX || memtap_capture_sys.fstat((int)fd, &st) != 0 ||
        st.st_dev != (dev_t)dev || st.st_ino != (ino_t)ino)
        return -1;
    fcntl((int)fd, F_SETFD, FD_CLOEXEC);
    return (int)fd;
}

int memtap_capture_fd_variable(int fd, char *buf, size_t cap) {
    struct stat st;
    if (memtap_capture_sys.fstat(fd, &st) != 0)
        return -1;
    snprintf(buf, cap, "%s=%d:%ld:%llu:%llu", MEMTAP_ENV_FD, fd, (long)getpid(),
             (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    return 0;
}

int memtap_capture_open(uint32_t *flags) {
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
    *flags = 0;
    if (fd >= 0) {
        struct stat st;
        if (memtap_capture_sys.fstat(fd, &st) == 0 && st.st_size > 0)
            *flags |= MEMTAP_HDR_AFTER_EXEC; /* the image before us wrote its records already */
        return fd;
    }
    if (for_me)
        return memtap_capture_open_child(); /* the descriptor was lost across our exec */
    if (getenv(MEMTAP_ENV_FD)) { /* a descendant (fork and exec, or spawn) */
        if (memtap_capture_children())
            return memtap_capture_open_child();
        return -1; /* --no-children: untracked, silently */
    }
    fd = open_capture(output_base);
    char var[128];
    if (fd < 0)
        memtap_log("cannot create the capture", output_base, errno);
    else if (memtap_capture_fd_variable(fd, var, sizeof var) == 0) /* taken, descendants know */
        setenv(MEMTAP_ENV_FD, strchr(var, '=') + 1, 1);
    return fd;
}


/* A pid from the environment, or -1. */
static long env_pid(const char *name) {
    const char *v = getenv(name);
    char *end;
    long pid = v && *v ? strtol(v, &end, 10) : -1;
    return v && *v && !*end ? pid : -1;
}

int memtap_capture_collected(uint32_t *flags) {
    const char *name = getenv(MEMTAP_ENV_COLLECTOR);
    if (!name || !*name)
        return 0;
    const char *out = getenv(MEMTAP_ENV_OUTPUT);
    snprintf(output_base, sizeof output_base, "%s", out && *out ? out : "memtap run's capture");
    long pid = (long)getpid();
    if (!memtap_capture_children() && env_pid(MEMTAP_ENV_ROOT) != pid)
        return -1; /* --no-children: only the program memtap run started, through its execs */
    *flags = env_pid(MEMTAP_ENV_EXEC) == pid ? MEMTAP_HDR_AFTER_EXEC : 0;
    return 1;
}
