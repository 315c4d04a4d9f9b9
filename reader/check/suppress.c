/* Suppressions of the leak check (suppress.h): the user's `leak:` patterns, the built-in
 * rules, and the Python rule. Why each built-in rule exists, and what it was found on, is
 * in docs/ci.md ("Suppressions") and docs/python.md ("The leak check"). */
#include "check/suppress.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/vec.h"

typedef struct {
    char *pattern;
    char *label; /* "leak:PATTERN (FILE:LINE)" */
} rule_t;

struct memtap_suppressions {
    MEMTAP_VEC(rule_t) rules;
    int defaults;
};

/* Modules of the C and C++ runtime: libc, the dynamic loader, libstdc++, libgcc and the
 * libraries glibc splits off. A stack made of their frames only is never the program's:
 * a library's constructor run by ld.so (libstdc++'s emergency pool), ld.so's own tables. */
static const char *const runtime_modules[] = {
    "libc.so*",   "ld-linux*.so*", "ld64.so*",  "libstdc++.so*", "libgcc_s.so*",
    "libm.so*",   "libpthread.so*", "libdl.so*", "librt.so*",     "libresolv.so*",
    "libnss_*.so*", "libcrypt.so*",
};

/* Shells: bash, dash and the others free nothing at exit by design (valgrind reports their
 * leaks too). Their processes are the glue of a CI job (`sh -c`, `make`'s recipes, pyenv's
 * shim: 40 bash processes, 20 KiB "definitely lost" for `python3 -c pass`), never the
 * program under test. */
static const char *const shell_modules[] = {
    "bash", "dash", "sh", "zsh", "ksh", "ksh93", "mksh", "busybox",
};

/* Functions of libc and ld.so whose allocations are kept for the life of the process (or
 * of a thread) by libc itself: a stack through one of them is not the program's leak. */
static const char *const runtime_functions[] = {
    /* (libc's own names: with its debug symbols, __GI_ before many of them) */
    "*_IO_file_doallocate",    /* stdio buffers: stdout's, stderr's, any FILE's until fclose */
    "*setlocale",              /* the locale's data, names and aliases */
    "_nl_*", "__GI__nl_*",     /* locale data and message catalogues (gettext, iconv) */
    "__nss_*", "__GI___nss_*", /* the name service's configuration and modules */
    "getpw*", "getgr*", "getsp*", "gethostby*", "getserv*", "getproto*", "getnet*",
    /* the static buffer of each non-reentrant lookup (getXXbyYY.c) */
    "*tzset*", "__tzfile_read", /* the time zone (localtime, mktime, strftime) */
    "*_dl_allocate_tls*",      /* a thread's TLS block and DTV (pthread_create) */
    "allocate_dtv",            /* (inlined into the above with debug symbols) */
    "*__tls_get_addr*",        /* TLS of a dlopen'd module, allocated on first use */
    "_dl_*", "__GI__dl_*",     /* ld.so: link maps, scopes, dlopen's and dl_init's tables */
    "*dlerror*",               /* the thread's dlerror message buffer */
};

memtap_suppressions_t *memtap_suppressions_new(int defaults) {
    memtap_suppressions_t *s = calloc(1, sizeof *s);
    if (s)
        s->defaults = defaults;
    return s;
}

void memtap_suppressions_free(memtap_suppressions_t *s) {
    if (!s)
        return;
    for (size_t i = 0; i < s->rules.n; i++) {
        free(s->rules.v[i].pattern);
        free(s->rules.v[i].label);
    }
    free(s->rules.v);
    free(s);
}

int memtap_suppressions_add(memtap_suppressions_t *s, const char *pattern, const char *origin) {
    if (VEC_RESERVE(s->rules, 1) < 0)
        return -1;
    size_t n = strlen(pattern) + strlen(origin) + 16;
    rule_t *r = &s->rules.v[s->rules.n];
    r->pattern = strdup(pattern);
    r->label = malloc(n);
    if (!r->pattern || !r->label) {
        free(r->pattern);
        free(r->label);
        return -1;
    }
    snprintf(r->label, n, "leak:%s (%s)", pattern, origin);
    s->rules.n++;
    return 0;
}

/* s without leading and trailing blanks (in place). */
static char *trim(char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

int memtap_suppressions_load(memtap_suppressions_t *s, const char *path, char *err, size_t cap) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, cap, "%s: %s", path, strerror(errno));
        return -1;
    }
    char buf[4096], origin[4200];
    int rc = 0;
    for (unsigned line = 1; rc == 0 && fgets(buf, sizeof buf, f); line++) {
        char *t = trim(buf);
        if (!*t || *t == '#')
            continue;
        snprintf(origin, sizeof origin, "%s:%u", path, line);
        if (strncmp(t, "leak:", 5) != 0 || !*trim(t + 5)) {
            snprintf(err, cap, "%s: not a suppression: '%.60s' (lines are leak:PATTERN, "
                               "blank or # comments)", origin, t);
            rc = -1;
        } else if (memtap_suppressions_add(s, trim(t + 5), origin) < 0) {
            snprintf(err, cap, "out of memory");
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

static const char *base_name(const char *p) {
    const char *b = p ? strrchr(p, '/') : NULL;
    return b ? b + 1 : p;
}

/* fnmatch on a name that may be NULL. */
static int glob(const char *pattern, const char *name) {
    return name && fnmatch(pattern, name, 0) == 0;
}

int memtap_frame_matches(const char *pattern, const memtap_frame_t *f) {
    if (glob(pattern, f->function) || glob(pattern, f->file) ||
        glob(pattern, base_name(f->file)) || glob(pattern, f->module) ||
        glob(pattern, base_name(f->module)))
        return 1;
    /* a C++ name without its parameter list: the first '(' outside template brackets */
    const char *fn = f->function;
    int depth = 0;
    for (size_t i = 0; fn && fn[i]; i++) {
        if (fn[i] == '<')
            depth++;
        else if (fn[i] == '>')
            depth--;
        else if (fn[i] == '(' && depth == 0 && i > 0) {
            char name[512];
            if (i >= sizeof name)
                return 0;
            memcpy(name, fn, i);
            name[i] = '\0';
            return fnmatch(pattern, name, 0) == 0;
        }
    }
    return 0;
}

static int any_glob(const char *const *patterns, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (glob(patterns[i], name))
            return 1;
    return 0;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int runtime_frame(const memtap_frame_t *f) {
    return !f->python && any_glob(runtime_modules, COUNT(runtime_modules), base_name(f->module));
}

/* The interpreter's own native code: the python executable, libpython, and the standard
 * library's extension modules (lib-dynload). */
static int interpreter_module(const char *module) {
    const char *b = base_name(module);
    return b && (glob("python*", b) || glob("libpython*.so*", b) ||
                 glob("*/lib-dynload/*", module));
}

/* A Python frame of the standard library: a file under .../lib/pythonX.Y/ outside
 * site-packages, or a frozen module (<frozen importlib._bootstrap>...). */
static int stdlib_frame(const memtap_frame_t *f) {
    const char *file = f->file;
    if (!file)
        return 0;
    if (!strncmp(file, "<frozen ", 8))
        return 1;
    return glob("*/lib/python3*/*", file) && !glob("*/site-packages/*", file) &&
           !glob("*/dist-packages/*", file);
}

/* The Python rule (docs/python.md, "Leak check"): what made an allocation is its innermost
 * Python frame with the native frames below it. PY_INTERPRETER: the interpreter's own memory
 * (those native frames are the interpreter's or the runtime's, and the Python frame is the
 * standard library's, or there is none: start-up, finalization); PY_USER: memory the
 * interpreter allocated for the user's pure Python code; PY_NOT: not the interpreter's (a
 * native frame of an extension module, of ctypes' libffi, of a program that embeds Python),
 * or not a Python process. Except: what an extension hands the interpreter to keep (below). */
enum { PY_NOT, PY_USER, PY_INTERPRETER };

/* The interpreter's functions whose memory it keeps for good whoever calls them: interned
 * strings (immortal since 3.12, lost when the interned table goes at finalization). */
static const char *const python_keeps[] = {"PyUnicode_Intern*", "_PyUnicode_Intern*"};

/* Whether an extension's native frame frames[i] hands the interpreter what it keeps: its
 * module initialisation (PyInit_*: the module's names, methods and types) or an interned
 * string made by one of the interpreter's frames below it. */
static int extension_gives_interpreter(const memtap_frame_t *frames, size_t i) {
    if (i == 0)
        return 0; /* the extension's own malloc */
    if (glob("PyInit_*", frames[i].function))
        return 1;
    for (size_t k = 0; k < i; k++)
        if (any_glob(python_keeps, COUNT(python_keeps), frames[k].function))
            return 1;
    return 0;
}

static int python_rule(const memtap_frame_t *frames, size_t n) {
    int python = 0;
    for (size_t i = 0; i < n; i++) {
        const memtap_frame_t *f = &frames[i];
        if (f->python)
            return stdlib_frame(f) ? PY_INTERPRETER : PY_USER;
        if (interpreter_module(f->module))
            python = 1;
        else if (!runtime_frame(f))
            return python && extension_gives_interpreter(frames, i) ? PY_INTERPRETER : PY_NOT;
    }
    return python ? PY_INTERPRETER : PY_NOT;
}

int memtap_python_native_block(const memtap_frame_t *frames, size_t n) {
    if (n == 0 || frames[0].python || interpreter_module(frames[0].module) ||
        runtime_frame(&frames[0]))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (frames[i].python || interpreter_module(frames[i].module))
            return 1;
    return 0;
}

const char *memtap_suppressions_match_lost(const memtap_suppressions_t *s,
                                           const memtap_frame_t *frames, size_t n) {
    return s->defaults && python_rule(frames, n) == PY_USER
               ? "built-in: the Python interpreter's memory for pure Python code, lost by "
                 "its finalization"
               : NULL;
}

const char *memtap_suppressions_match(const memtap_suppressions_t *s, const memtap_frame_t *frames,
                                      size_t n) {
    for (size_t r = 0; r < s->rules.n; r++)
        for (size_t i = 0; i < n; i++)
            if (memtap_frame_matches(s->rules.v[r].pattern, &frames[i]))
                return s->rules.v[r].label;
    if (!s->defaults || n == 0)
        return NULL;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < COUNT(runtime_functions); k++)
            if (!frames[i].python && glob(runtime_functions[k], frames[i].function))
                return "built-in: a one-time allocation of libc or ld.so";
    if (python_rule(frames, n) == PY_INTERPRETER)
        return "built-in: the Python interpreter's own memory";
    size_t runtime = 0, shell = 0;
    for (size_t i = 0; i < n; i++) {
        if (runtime_frame(&frames[i]))
            runtime++;
        else if (!frames[i].python &&
                 any_glob(shell_modules, COUNT(shell_modules), base_name(frames[i].module)))
            shell++;
    }
    if (runtime == n)
        return "built-in: a stack of the C and C++ runtime only";
    if (shell && runtime + shell == n)
        return "built-in: a shell's own memory (shells free nothing at exit)";
    return NULL;
}
