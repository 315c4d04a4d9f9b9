/* memtap run: runs a program with libmemtap.so preloaded and the capture file open, waits
 * for it, and returns its exit status. The capture is opened here (exclusively, never
 * through a symlink) and handed to the program as MEMTAP_FD, so the program's first image
 * and every image it execs append to the same file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "memtap/format.h"
#include "report/output.h"
#include "report/report.h"

static const char usage[] =
    "usage: memtap run [-o FILE] [--force] [--max-depth N] [--python-only] [--no-children]\n"
    "                  [--] PROGRAM [ARGS...]\n"
    "\n"
    "Runs PROGRAM with memtap tracking its allocations, and writes a capture file.\n"
    "The program's output and exit status are its own; memtap speaks on stderr only.\n"
    "\n"
    "  -o, --output FILE  capture path (default: $MEMTAP_OUTPUT, else\n"
    "                     memtap-PROGRAM.PID.memtap); forked children write FILE.PID\n"
    "  -f, --force        replace FILE if it exists (a symlink is never followed)\n"
    "  --max-depth N      frames kept per stack (default 128, at most 1024)\n"
    "  --python-only      Python programs: no native frames for allocations made while\n"
    "                     Python code runs (faster; C extension frames are not shown)\n"
    "  --no-children      track PROGRAM only (through its execs), not the processes it\n"
    "                     forks: no FILE.PID captures (e.g. from pyenv's python3 shim)\n"
    "  -h, --help         this text\n";

/* Where libmemtap.so is: $MEMTAP_LIBRARY, beside this binary (build tree), or in
 * ../lib/memtap/ (installed). */
static int find_library(char *out, size_t cap) {
    const char *env = getenv("MEMTAP_LIBRARY");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return access(out, R_OK) == 0 ? 0 : -1;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    *slash = '\0';
    if ((size_t)snprintf(out, cap, "%s/libmemtap.so", self) < cap && access(out, R_OK) == 0)
        return 0;
    if ((size_t)snprintf(out, cap, "%s/../lib/memtap/libmemtap.so", self) < cap &&
        access(out, R_OK) == 0) {
        char real[PATH_MAX];
        if (realpath(out, real))
            snprintf(out, cap, "%s", real);
        return 0;
    }
    return -1;
}

/* Finds PROGRAM the way execvp will. Returns 0 when it exists and is executable. */
static int find_program(const char *prog, char *out, size_t cap) {
    if (strchr(prog, '/')) {
        snprintf(out, cap, "%s", prog);
        return access(prog, X_OK);
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        struct stat st;
        if ((size_t)snprintf(out, cap, "%.*s/%s", (int)(len ? len : 1), len ? path : ".", prog) <
                cap &&
            stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
            return 0;
        path += len + (colon ? 1 : 0);
    }
    return -1;
}

/* Says how many forked children wrote captures of their own, PATH.<pid>. */
static void report_children(const char *path, time_t since) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : path;
    if (slash)
        *slash = '\0';
    DIR *d = opendir(slash ? (dir[0] ? dir : "/") : ".");
    if (!d)
        return;
    size_t n = 0, len = strlen(base);
    char first[NAME_MAX + 1] = "";
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        struct stat st;
        if (strncmp(s, base, len) || s[len] != '.' || !s[len + 1] ||
            strspn(s + len + 1, "0123456789") != strlen(s + len + 1) ||
            fstatat(dirfd(d), s, &st, AT_SYMLINK_NOFOLLOW) != 0 || st.st_mtime < since)
            continue; /* not a child capture of this run */
        if (!n++)
            snprintf(first, sizeof first, "%s", s);
    }
    closedir(d);
    if (n == 1)
        fprintf(stderr, "memtap: a forked child wrote its own capture: %s%s%s\n", slash ? dir : "",
                slash ? "/" : "", first);
    else if (n > 1)
        fprintf(stderr, "memtap: %zu forked children wrote captures of their own: %s.<pid>\n", n,
                path);
}

static pid_t child;
static void forward(int sig) {
    if (child > 0)
        kill(child, sig);
}

/* In the child: opens the capture, exports what the library needs, and execs. Any
 * problem with the capture is said once and the program runs untracked. */
static void exec_child(char **argv, const char *lib, const char *output, int force, int depth,
                       int status_fd) {
    char abs[PATH_MAX], cwd[PATH_MAX];
    if (output[0] == '/' || !getcwd(cwd, sizeof cwd) ||
        (size_t)snprintf(abs, sizeof abs, "%s/%s", cwd, output) >= sizeof abs)
        snprintf(abs, sizeof abs, "%s", output);

    int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
    int fd = open(abs, flags, 0644);
    char tracked = 'T';
    if (fd < 0) {
        fprintf(stderr, "memtap: cannot create capture %s: %s; running %s untracked\n", output,
                strerror(errno), argv[0]);
        tracked = 'U';
    } else {
        int high = fcntl(fd, F_DUPFD, 200); /* keep low descriptor numbers for the program */
        if (high >= 0) {
            close(fd);
            fd = high;
        }
        struct stat st;
        fstat(fd, &st);
        char v[128], d[16], pre[PATH_MAX * 2];
        snprintf(v, sizeof v, "%d:%ld:%llu:%llu", fd, (long)getpid(), (unsigned long long)st.st_dev,
                 (unsigned long long)st.st_ino);
        setenv(MEMTAP_ENV_FD, v, 1);
        setenv(MEMTAP_ENV_OUTPUT, abs, 1);
        snprintf(d, sizeof d, "%d", depth);
        setenv(MEMTAP_ENV_MAX_DEPTH, d, 1);
        const char *old = getenv("LD_PRELOAD");
        snprintf(pre, sizeof pre, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
        setenv("LD_PRELOAD", pre, 1);
    }
    if (write(status_fd, &tracked, 1) != 1)
        _exit(126);
    execvp(argv[0], argv);
    fprintf(stderr, "memtap: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
}

/* What the command line asked for. */
typedef struct {
    const char *output; /* NULL: memtap-PROGRAM.PID.memtap */
    int force;
    int depth;
    char **prog_argv;
} run_opts_t;

/* Parses memtap run's options into o (--python-only and --no-children go straight to the
 * environment the program inherits). Returns -1 to go on, else the exit status. */
static int parse_options(int argc, char **argv, run_opts_t *o) {
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {"max-depth", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {"python-only", no_argument, NULL, 'p'},
        {"no-children", no_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    *o = (run_opts_t){getenv(MEMTAP_ENV_OUTPUT), 0, MEMTAP_DEFAULT_DEPTH, NULL};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:o:fh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            o->output = optarg;
            break;
        case 'f':
            o->force = 1;
            break;
        case 'd': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > MEMTAP_MAX_DEPTH) {
                fprintf(stderr, "memtap run: --max-depth takes 1 to %d, not '%s'\n",
                        MEMTAP_MAX_DEPTH, optarg);
                return MEMTAP_EXIT_USAGE;
            }
            o->depth = (int)v;
            break;
        }
        case 'p':
            setenv(MEMTAP_ENV_PYTHON_ONLY, "1", 1); /* the program inherits it */
            break;
        case 'c':
            setenv(MEMTAP_ENV_NO_CHILDREN, "1", 1);
            break;
        case 'h':
            fputs(usage, stdout);
            return MEMTAP_EXIT_OK;
        case ':':
            fprintf(stderr, "memtap run: option '%s' needs a value (see memtap run --help)\n",
                    argv[optind - 1]);
            return MEMTAP_EXIT_USAGE;
        default:
            fprintf(stderr, "memtap run: unknown option '%s' (see memtap run --help)\n",
                    argv[optind - 1]);
            return MEMTAP_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr,
                "memtap run: which program? usage: memtap run [options] -- PROGRAM [ARGS...]\n");
        return MEMTAP_EXIT_USAGE;
    }
    o->prog_argv = argv + optind;
    return -1;
}

/* Checks, before anything runs, that the program and libmemtap.so exist (lib gets the
 * library's path) and that the capture may be written where asked. Returns -1 to go on,
 * else the exit status. */
static int check_prerequisites(const run_opts_t *o, char *lib, size_t cap) {
    char found[PATH_MAX];
    if (find_program(o->prog_argv[0], found, sizeof found) != 0) {
        fprintf(stderr, "memtap: %s: %s\n", o->prog_argv[0],
                strchr(o->prog_argv[0], '/') ? strerror(errno) : "command not found");
        return 127;
    }
    if (find_library(lib, cap) != 0) {
        fprintf(stderr, "memtap: cannot find libmemtap.so (set MEMTAP_LIBRARY to its path)\n");
        return MEMTAP_EXIT_BAD_INPUT;
    }
    struct stat st;
    if (o->output && !o->force && lstat(o->output, &st) == 0) {
        fprintf(stderr, "memtap: %s already exists; choose another -o FILE or add --force\n",
                o->output);
        return MEMTAP_EXIT_USAGE;
    }
    if (o->output && o->force && lstat(o->output, &st) == 0 && S_ISLNK(st.st_mode)) {
        fprintf(stderr, "memtap: %s is a symbolic link; memtap never writes through one\n",
                o->output);
        return MEMTAP_EXIT_USAGE;
    }
    return -1;
}

/* How the program ran: where its capture is and whether it was tracked. */
typedef struct {
    char path[PATH_MAX];
    char tracked; /* 'T': the capture was opened for it; 'U': it ran untracked */
    int status;   /* from waitpid */
    time_t started;
} run_result_t;

/* Forks the program (exec_child), waits for it while forwarding SIGTERM and SIGHUP, and
 * fills res. Returns -1 when it ran, else the exit status (it could not be started). */
static int spawn_and_wait(const run_opts_t *o, const char *lib, run_result_t *res) {
    int status_pipe[2];
    if (pipe2(status_pipe, O_CLOEXEC) != 0) {
        fprintf(stderr, "memtap: cannot create a pipe: %s\n", strerror(errno));
        return MEMTAP_EXIT_BAD_INPUT;
    }
    fflush(NULL);
    res->started = time(NULL);
    child = fork();
    if (child < 0) {
        fprintf(stderr, "memtap: cannot fork: %s\n", strerror(errno));
        return MEMTAP_EXIT_BAD_INPUT;
    }
    if (o->output)
        snprintf(res->path, sizeof res->path, "%s", o->output);
    else {
        const char *base = strrchr(o->prog_argv[0], '/');
        snprintf(res->path, sizeof res->path, "memtap-%s.%ld.memtap",
                 base ? base + 1 : o->prog_argv[0], (long)(child ? child : getpid()));
    }
    if (child == 0) {
        close(status_pipe[0]);
        exec_child(o->prog_argv, lib, res->path, o->force, o->depth, status_pipe[1]);
    }
    close(status_pipe[1]);
    res->tracked = 'U';
    if (read(status_pipe[0], &res->tracked, 1) != 1)
        res->tracked = 'U';
    close(status_pipe[0]);

    /* The terminal sends ^C and ^\ to the program too: let it decide, and report after. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    signal(SIGTERM, forward);
    signal(SIGHUP, forward);
    while (waitpid(child, &res->status, 0) < 0 && errno == EINTR)
        ;
    return -1;
}

/* Says on stderr where the capture is (and which children wrote their own), or why the
 * program left none; removes the empty file of a program the library never ran in. */
static void final_message(const char *prog, const run_result_t *res) {
    struct stat st;
    if (res->tracked == 'T' && stat(res->path, &st) == 0 && S_ISREG(st.st_mode) &&
        st.st_size == 0) {
        /* nothing was written: the library never ran in the program */
        unlink(res->path);
        fprintf(stderr,
                "memtap: %s wrote no capture: it is statically linked or cleared LD_PRELOAD, "
                "so libmemtap.so could not be loaded into it\n",
                prog);
    } else if (res->tracked == 'T' && stat(res->path, &st) == 0 && S_ISREG(st.st_mode)) {
        char sz[64];
        fprintf(stderr, "memtap: capture written to %s (%s)%s\n", res->path,
                memtap_fmt_size((uint64_t)st.st_size, sz, sizeof sz),
                WIFSIGNALED(res->status) ? ", incomplete: the program was killed" : "");
        report_children(res->path, res->started);
        fprintf(stderr, "memtap: read it with: memtap summary %s   (or: memtap leaks %s)\n",
                res->path, res->path);
    }
}

int memtap_cmd_run(int argc, char **argv) {
    run_opts_t o;
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0)
        return rc;
    char lib[PATH_MAX];
    rc = check_prerequisites(&o, lib, sizeof lib);
    if (rc >= 0)
        return rc;
    run_result_t res;
    rc = spawn_and_wait(&o, lib, &res);
    if (rc >= 0)
        return rc;
    final_message(o.prog_argv[0], &res);
    return WIFEXITED(res.status) ? WEXITSTATUS(res.status) : 128 + WTERMSIG(res.status);
}
