/* memtap run: runs a program with libmemtap.so preloaded, collects what it and every process
 * it starts record (reader/collect), writes the one capture, and returns the program's exit
 * status. The capture is created here: exclusively, never through a symlink, mode 0600. */
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

#include "cli/program.h"
#include "collect/collector.h"
#include "memtap/collector.h"
#include "memtap/format.h"
#include "cli/check_cmd.h"
#include "report/output.h"
#include "report/report.h"

static const char usage[] =
    "usage: memtap run [-o FILE] [--force] [--max-depth N] [--python-only] [--no-children]\n"
    "                  [--leak-scan] [--check[=WHAT] [check options]] [--] PROGRAM [ARGS...]\n"
    "\n"
    "Runs PROGRAM with memtap tracking its allocations, and writes a capture file.\n"
    "The program's output and exit status are its own; memtap speaks on stderr only.\n"
    "\n"
    "  -o, --output FILE  capture path (default: $MEMTAP_OUTPUT, else\n"
    "                     memtap-PROGRAM.PID.memtap); it holds every process the\n"
    "                     program starts (memtap summary lists them)\n"
    "  -f, --force        replace FILE if it exists (a symlink is never followed)\n"
    "  --max-depth N      frames kept per stack (default 128, at most 1024)\n"
    "  --python-only      Python programs: no native frames for allocations made while\n"
    "                     Python code runs (faster; C extension frames are not shown)\n"
    "  --no-children      track PROGRAM only (through its execs), not the processes it\n"
    "                     starts\n"
    "  --leak-scan        at each process's exit, scan its memory and record the class of\n"
    "                     every block never freed (definitely, indirectly, possibly lost,\n"
    "                     still reachable), shown by leaks and summary, judged by memtap\n"
    "                     check; --check turns it on. Costs a replay of the records at exit\n"
    "                     (about 0.3x to 0.5x of an allocation-bound program's CPU)\n"
    "  -h, --help         this text\n"
    "\n"
    "The leak check (any of these options turns it on): after the program and every\n"
    "process it started have ended, the blocks they never freed are judged by the leak\n"
    "scan's classes; the report goes to stderr. Exit status: the program's own when the\n"
    "check passes, 23 (or N) when leaks fail it.\n";

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

static pid_t child;
static void forward(int sig) {
    if (child > 0)
        kill(child, sig);
}

/* In the child: waits for the parent's word ('T': the capture is open and the collector
 * listens; 'U': run untracked), exports what the library needs, and execs. */
static void exec_child(char **argv, const char *lib, const char *abs, const char *collector,
                       int depth, int go_fd) {
    char go = 'U';
    if (read(go_fd, &go, 1) != 1)
        go = 'U';
    close(go_fd);
    if (go == 'T') {
        char d[16], pid[24], pre[PATH_MAX * 2];
        setenv(MEMTAP_ENV_COLLECTOR, collector, 1);
        setenv(MEMTAP_ENV_OUTPUT, abs, 1);
        snprintf(pid, sizeof pid, "%ld", (long)getpid());
        setenv(MEMTAP_ENV_ROOT, pid, 1);
        unsetenv(MEMTAP_ENV_FD);
        unsetenv(MEMTAP_ENV_EXEC);
        snprintf(d, sizeof d, "%d", depth);
        setenv(MEMTAP_ENV_MAX_DEPTH, d, 1);
        const char *old = getenv("LD_PRELOAD");
        snprintf(pre, sizeof pre, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
        setenv("LD_PRELOAD", pre, 1);
    }
    execvp(argv[0], argv);
    fprintf(stderr, "memtap: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
}

/* What the command line asked for. */
typedef struct {
    const char *output; /* NULL: memtap-PROGRAM.PID.memtap */
    int force;
    int depth;
    int leak_scan; /* --leak-scan (or --check): classes at exit */
    char **prog_argv;
    memtap_check_opts_t check;
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
        {"leak-scan", no_argument, NULL, 'l'},
        MEMTAP_CHECK_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->output = getenv(MEMTAP_ENV_OUTPUT);
    o->depth = MEMTAP_DEFAULT_DEPTH;
    memtap_check_opts_init(&o->check);
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:o:fh", longopts, NULL)) != -1) {
        int k = memtap_check_option(&o->check, c, optarg, "run");
        if (k < 0)
            return MEMTAP_EXIT_USAGE;
        if (k > 0)
            continue;
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
        case 'l':
            o->leak_scan = 1;
            break;
        case 'h':
            fputs(usage, stdout);
            fputs(memtap_check_usage, stdout);
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
    /* The scan replays every record at exit: only when asked for (docs/ci.md); an
     * explicit MEMTAP_LEAK_SCAN in the environment wins over the default */
    setenv(MEMTAP_ENV_LEAK_SCAN, o->leak_scan || o->check.enabled ? "1" : "0", 0);
    return -1;
}

/* Checks, before anything runs, that the program and libmemtap.so exist (lib gets the
 * library's path) and that the capture may be written where asked. Returns -1 to go on,
 * else the exit status. */
static int check_prerequisites(const run_opts_t *o, char *lib, size_t cap) {
    char found[PATH_MAX];
    if (memtap_find_program(o->prog_argv[0], found, sizeof found) != 0) {
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
    char tracked; /* 'T': the capture was opened and collected; 'U': it ran untracked */
    int status;   /* from waitpid */
    memtap_collector_stats_t stats;
} run_result_t;

/* Creates the capture for the collector: exclusive (unless forced), never through a
 * symlink, readable by its owner only (it holds command lines and memory layout). */
static int create_capture(const char *path, int force) {
    int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
    int fd = open(path, flags, 0600);
    if (fd >= 0 && force)
        fchmod(fd, 0600);
    return fd;
}

/* Forks the program (exec_child), opens the capture, and collects until the program and
 * every process it started have ended, forwarding SIGTERM and SIGHUP meanwhile. Fills res.
 * Returns -1 when it ran, else the exit status (it could not be started). */
static int spawn_and_collect(const run_opts_t *o, const char *lib, run_result_t *res) {
    memtap_collector_t *c = NULL;
    char name[64];
    int go[2];
    if (memtap_collector_open(&c, name, sizeof name) != 0 || pipe2(go, O_CLOEXEC) != 0) {
        fprintf(stderr, "memtap: cannot start the collector: %s\n", strerror(errno));
        memtap_collector_close(c);
        return MEMTAP_EXIT_BAD_INPUT;
    }
    fflush(NULL);
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
    char abs[PATH_MAX], cwd[PATH_MAX];
    if (res->path[0] == '/' || !getcwd(cwd, sizeof cwd) ||
        (size_t)snprintf(abs, sizeof abs, "%s/%s", cwd, res->path) >= sizeof abs)
        snprintf(abs, sizeof abs, "%s", res->path);
    if (child == 0) {
        close(go[1]);
        exec_child(o->prog_argv, lib, abs, name, o->depth, go[0]);
    }
    close(go[0]);
    int fd = create_capture(abs, o->force);
    res->tracked = fd >= 0 ? 'T' : 'U';
    if (fd < 0)
        fprintf(stderr, "memtap: cannot create capture %s: %s; running %s untracked\n",
                res->path, strerror(errno), o->prog_argv[0]);
    /* The terminal sends ^C and ^\ to the program too: let it decide, and report after. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    signal(SIGTERM, forward);
    signal(SIGHUP, forward);
    if (write(go[1], &res->tracked, 1) != 1)
        res->tracked = 'U';
    close(go[1]);
    if (res->tracked == 'T') {
        res->status = memtap_collector_run(c, fd, abs, child);
        memtap_collector_stats(c, &res->stats);
    } else {
        while (waitpid(child, &res->status, 0) < 0 && errno == EINTR)
            ;
    }
    memtap_collector_close(c);
    return -1;
}

/* Says on stderr where the capture is, or why the program left none (and removes the
 * capture of a run the library never ran in). */
static void final_message(const char *prog, const run_result_t *res) {
    const memtap_collector_stats_t *st = &res->stats;
    if (res->tracked != 'T')
        return;
    if (!st->processes) {
        unlink(res->path);
        char why[256];
        if (memtap_untrackable_reason(prog, why, sizeof why))
            fprintf(stderr, "memtap: %s ran untracked: %s; no capture written\n", prog, why);
        else
            fprintf(stderr, "memtap: %s ran untracked: libmemtap.so was never loaded into it "
                            "(it cleared LD_PRELOAD?); no capture written\n", prog);
        return;
    }
    if (st->write_error)
        return; /* said when it happened (reader/collect) */
    char sz[64], procs[64] = "";
    if (st->processes > 1)
        snprintf(procs, sizeof procs, ", %u processes", st->processes);
    fprintf(stderr, "memtap: capture written to %s (%s%s)%s\n", res->path,
            memtap_fmt_size(st->file_bytes, sz, sizeof sz), procs,
            WIFSIGNALED(res->status) ? ", incomplete: the program was killed" : "");
    if (!st->root_seen)
        fprintf(stderr, "memtap: %s itself was not tracked, only processes it started\n", prog);
    fprintf(stderr, "memtap: read it with: memtap summary %s   (or: memtap leaks %s)\n",
            res->path, res->path);
}

/* memtap run --check: judges the capture; the exit status is the program's when the check
 * passes, the check's exit code when leaks fail it. When there is nothing to judge (no
 * capture was written) or the capture cannot be read, the program's status if it failed,
 * else 1. */
static int check_after_run(const memtap_check_opts_t *o, const run_result_t *res, int status) {
    if (res->tracked != 'T' || !res->stats.processes || res->stats.write_error) {
        fprintf(stderr, "memtap check: no capture to judge: the leak check did not run\n");
        return status ? status : MEMTAP_EXIT_BAD_INPUT;
    }
    int passed;
    if (memtap_check_capture(res->path, o, stderr, &passed) != MEMTAP_EXIT_OK)
        return status ? status : MEMTAP_EXIT_BAD_INPUT;
    return passed ? status : o->exit_code;
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
    memset(&res, 0, sizeof res);
    rc = spawn_and_collect(&o, lib, &res);
    if (rc >= 0)
        return rc;
    final_message(o.prog_argv[0], &res);
    int status = WIFEXITED(res.status) ? WEXITSTATUS(res.status) : 128 + WTERMSIG(res.status);
    return o.check.enabled ? check_after_run(&o.check, &res, status) : status;
}
