/* libdw symbolizer with per-module and per-address caches. */
#include "symbolize/symbolize.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* From libstdc++: demangles C++ names (C names come back NULL and are kept). */
char *__cxa_demangle(const char *mangled, char *out, size_t *len, int *status);

typedef struct {
    const memtap_module_t *module;
    Dwfl *dwfl;
    Dwfl_Module *mod; /* NULL: unreadable or changed binary */
} dwfl_entry_t;

typedef struct {
    uint32_t node;
    uint32_t first, count; /* range in frames */
} node_entry_t;

/* The top-level functions of one compilation unit, by address: finding the function that
 * holds an address must not walk the unit's DIEs each time. */
typedef struct {
    Dwarf_Addr lo, hi;
    Dwarf_Die die;
} fn_range_t;

typedef struct {
    const void *cu; /* the unit DIE's address */
    fn_range_t *v;
    size_t n;
} cu_index_t;

struct memtap_symbolizer {
    cu_index_t *cus;
    size_t ncus, cus_cap;
    const memtap_replay_t *r;
    dwfl_entry_t *dwfls;
    size_t ndwfls;
    node_entry_t *cache; /* open addressing on node id */
    size_t cache_mask, cache_count;
    memtap_frame_t *frames;
    size_t nframes, frames_cap;
    char **strings;
    size_t nstrings, strings_cap;
};

static char *debuginfo_path;
static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

static void take_warm_modules(memtap_symbolizer_t *s);

memtap_symbolizer_t *memtap_symbolizer_new(const memtap_replay_t *r) {
    memtap_symbolizer_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->r = r;
    s->cache_mask = 1023;
    s->cache = calloc(s->cache_mask + 1, sizeof *s->cache);
    if (!s->cache) {
        free(s);
        return NULL;
    }
    take_warm_modules(s);
    return s;
}

void memtap_symbolizer_free(memtap_symbolizer_t *s) {
    if (!s)
        return;
    for (size_t i = 0; i < s->ndwfls; i++)
        if (s->dwfls[i].dwfl)
            dwfl_end(s->dwfls[i].dwfl);
    for (size_t i = 0; i < s->nstrings; i++)
        free(s->strings[i]);
    free(s->strings);
    for (size_t i = 0; i < s->ncus; i++)
        free(s->cus[i].v);
    free(s->cus);
    free(s->dwfls);
    free(s->cache);
    free(s->frames);
    free(s);
}

/* Keeps a copy of str for the symbolizer's lifetime (take: str is malloc'd already). */
static const char *keep(memtap_symbolizer_t *s, char *str, int take) {
    if (!str)
        return NULL;
    char *c = take ? str : strdup(str);
    if (!c)
        return "??";
    if (s->nstrings == s->strings_cap) {
        size_t cap = s->strings_cap ? s->strings_cap * 2 : 256;
        char **p = realloc(s->strings, cap * sizeof *p);
        if (!p) {
            free(c);
            return "??";
        }
        s->strings = p;
        s->strings_cap = cap;
    }
    s->strings[s->nstrings++] = c;
    return c;
}

static const char *demangled(memtap_symbolizer_t *s, const char *name) {
    if (!name)
        return NULL;
    const char *at = strchr(name, '@'); /* symbol version: memcpy@@GLIBC_2.14 */
    if (at && at > name) {
        char *plain = strndup(name, (size_t)(at - name));
        if (!plain)
            return NULL;
        const char *r = demangled(s, plain);
        free(plain);
        return r;
    }
    if (name[0] == '_' && name[1] == 'Z') {
        int status;
        char *d = __cxa_demangle(name, NULL, NULL, &status);
        if (d && status == 0)
            return keep(s, d, 1);
        free(d);
    }
    return keep(s, (char *)name, 0);
}

/* Opens the module file at path for symbols: *dwfl (NULL when the file cannot be read) and
 * *mod (NULL also when its build-id is not the recorded one). */
static void open_dwfl(const char *path, const uint8_t *build_id, size_t build_id_len, Dwfl **dwfl,
                      Dwfl_Module **mod) {
    *dwfl = NULL;
    *mod = NULL;
    if (path[0] != '/')
        return; /* [vdso] and friends: no file to read */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    *dwfl = dwfl_begin(&callbacks);
    if (!*dwfl) {
        close(fd);
        return;
    }
    /* bias 0: addresses we ask about are the file's own (link-time) addresses */
    Dwfl_Module *m = dwfl_report_elf(*dwfl, path, path, fd, 0, false);
    dwfl_report_end(*dwfl, NULL, NULL);
    if (!m)
        return;
    const unsigned char *bits;
    GElf_Addr vaddr;
    int n = dwfl_module_build_id(m, &bits, &vaddr);
    if (build_id_len && (n != (int)build_id_len || memcmp(bits, build_id, (size_t)n)))
        return; /* the binary changed since the capture: its symbols would lie */
    *mod = m;
}

static int same_module(const memtap_module_t *a, const char *path, const uint8_t *build_id,
                       size_t build_id_len) {
    return !strcmp(a->path, path) && a->build_id_len == build_id_len &&
           !memcmp(a->build_id, build_id, build_id_len);
}

static Dwfl_Module *open_module(memtap_symbolizer_t *s, const memtap_module_t *m) {
    for (size_t i = 0; i < s->ndwfls; i++)
        if (s->dwfls[i].module == m ||
            same_module(s->dwfls[i].module, m->path, m->build_id, m->build_id_len))
            return s->dwfls[i].mod;
    dwfl_entry_t *grown = realloc(s->dwfls, (s->ndwfls + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    s->dwfls = grown;
    dwfl_entry_t *e = &s->dwfls[s->ndwfls++];
    e->module = m;
    open_dwfl(m->path, m->build_id, m->build_id_len, &e->dwfl, &e->mod);
    return e->mod;
}

/* The warm-up (symbolize.h). The thread and the symbolizer never wait for each other: the
 * thread runs on idle cycles only, so on a busy machine it may get none for seconds. Each
 * module's state says who has it; the list goes to whichever of the two lets go last. */
enum { WARM_WAITING, WARM_OPENING, WARM_OPENED, WARM_DROPPED };
#define WARM_PATIENCE_MS 100

typedef struct {
    char *path;
    uint8_t build_id[MEMTAP_MAX_BUILD_ID];
    size_t build_id_len;
    Dwfl *dwfl; /* the thread's, until it sets WARM_OPENED */
    Dwfl_Module *mod;
    atomic_int state;
} warm_module_t;

typedef struct {
    warm_module_t *v;
    size_t n;
    atomic_int stop;
    atomic_int holders; /* the thread and the symbolizer, while each uses the list */
} warm_list_t;

static warm_list_t *warm; /* started at most once a process */
static int warm_started;

static void warm_list_free(warm_list_t *w) {
    for (size_t i = 0; i < w->n; i++)
        free(w->v[i].path);
    free(w->v);
    free(w);
}

static void *warm_up(void *arg) {
    warm_list_t *w = arg;
    struct sched_param none = {0};
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &none);
    for (size_t i = 0; i < w->n && !atomic_load(&w->stop); i++) {
        warm_module_t *m = &w->v[i];
        int expected = WARM_WAITING;
        if (!atomic_compare_exchange_strong(&m->state, &expected, WARM_OPENING))
            continue; /* the symbolizer dropped it */
        Dwfl *dwfl;
        Dwfl_Module *mod;
        open_dwfl(m->path, m->build_id, m->build_id_len, &dwfl, &mod);
        if (mod) { /* what takes the time: the debug sections, decompressed */
            Dwarf_Addr bias;
            dwfl_module_getdwarf(mod, &bias);
            dwfl_module_getsymtab(mod);
        }
        m->dwfl = dwfl;
        m->mod = mod;
        expected = WARM_OPENING;
        if (!atomic_compare_exchange_strong(&m->state, &expected, WARM_OPENED) && dwfl)
            dwfl_end(dwfl); /* dropped while it was being opened */
    }
    if (atomic_fetch_sub(&w->holders, 1) == 1)
        warm_list_free(w);
    return NULL;
}

void memtap_symbols_warm_up(const memtap_replay_t *r) {
    if (warm_started || r->modules.n == 0)
        return;
    warm_started = 1;
    warm_list_t *w = calloc(1, sizeof *w);
    if (!w || !(w->v = calloc(r->modules.n, sizeof *w->v))) {
        free(w);
        return;
    }
    for (size_t i = 0; i < r->modules.n; i++) {
        const memtap_module_t *m = &r->modules.v[i];
        warm_module_t *x = &w->v[w->n];
        int listed = 0;
        for (size_t j = 0; j < w->n && !listed; j++)
            listed = same_module(m, w->v[j].path, w->v[j].build_id, w->v[j].build_id_len);
        if (listed || m->path[0] != '/' || !(x->path = strdup(m->path)))
            continue;
        memcpy(x->build_id, m->build_id, m->build_id_len);
        x->build_id_len = m->build_id_len;
        atomic_init(&x->state, WARM_WAITING);
        w->n++;
    }
    atomic_init(&w->stop, 0);
    atomic_init(&w->holders, 2);
    pthread_t thread;
    if (pthread_create(&thread, NULL, warm_up, w) != 0) {
        warm_list_free(w);
        return;
    }
    pthread_detach(thread);
    warm = w;
}

/* Stops the warm-up and hands s the modules it has opened; those it has not are dropped
 * (one it is opening is freed by the thread) and opened when a frame needs them. */
static void take_warm_modules(memtap_symbolizer_t *s) {
    warm_list_t *w = warm;
    if (!w)
        return;
    warm = NULL;
    atomic_store(&w->stop, 1);
    for (size_t i = 0; i < w->n; i++) {
        warm_module_t *x = &w->v[i];
        int st = WARM_WAITING;
        if (atomic_compare_exchange_strong(&x->state, &st, WARM_DROPPED))
            continue;
        /* being opened: it is most likely needed (the program's own modules come first),
         * and with the reading done the thread has a core; a starved one is not awaited */
        for (int waited = 0; st == WARM_OPENING && waited < WARM_PATIENCE_MS * 2; waited++) {
            usleep(500);
            st = atomic_load(&x->state);
        }
        if (st == WARM_OPENING && atomic_compare_exchange_strong(&x->state, &st, WARM_DROPPED))
            continue;
        if (st != WARM_OPENED) /* (dropped already) */
            continue;
        const memtap_module_t *m = NULL;
        for (size_t j = 0; j < s->r->modules.n && !m; j++)
            if (same_module(&s->r->modules.v[j], x->path, x->build_id, x->build_id_len))
                m = &s->r->modules.v[j];
        dwfl_entry_t *grown = m ? realloc(s->dwfls, (s->ndwfls + 1) * sizeof *grown) : NULL;
        if (grown) {
            s->dwfls = grown;
            s->dwfls[s->ndwfls++] = (dwfl_entry_t){m, x->dwfl, x->mod};
        } else if (x->dwfl) {
            dwfl_end(x->dwfl);
        }
    }
    if (atomic_fetch_sub(&w->holders, 1) == 1)
        warm_list_free(w);
}

/* The mangled name DWARF gives a function (C++), or NULL. */
static const char *linkage_name(Dwarf_Die *die) {
    Dwarf_Attribute attr;
    if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
        dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr))
        return dwarf_formstring(&attr);
    return NULL;
}

static const char *die_name(memtap_symbolizer_t *s, Dwarf_Die *die) {
    Dwarf_Attribute attr;
    const char *name = linkage_name(die);
    if (!name && dwarf_attr_integrate(die, DW_AT_name, &attr))
        name = dwarf_formstring(&attr);
    return demangled(s, name);
}

static int push(memtap_symbolizer_t *s, const memtap_frame_t *f) {
    if (memtap_vec_reserve((void **)&s->frames, &s->frames_cap, s->nframes + 1, sizeof *f) < 0)
        return -1;
    s->frames[s->nframes++] = *f;
    return 0;
}

/* Resolves ip: one frame per inlined function plus the function containing them. */
static int by_lo(const void *a, const void *b) {
    const fn_range_t *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static const cu_index_t *cu_index(memtap_symbolizer_t *s, Dwarf_Die *cu) {
    for (size_t i = s->ncus; i > 0; i--)
        if (s->cus[i - 1].cu == cu->addr)
            return &s->cus[i - 1];
    if (s->ncus == s->cus_cap) {
        size_t cap = s->cus_cap ? s->cus_cap * 2 : 64;
        cu_index_t *p = realloc(s->cus, cap * sizeof *p);
        if (!p)
            return NULL;
        s->cus = p;
        s->cus_cap = cap;
    }
    cu_index_t *x = &s->cus[s->ncus];
    *x = (cu_index_t){cu->addr, NULL, 0};
    size_t cap = 0;
    Dwarf_Die fn;
    if (dwarf_child(cu, &fn) == 0) {
        do {
            if (dwarf_tag(&fn) != DW_TAG_subprogram)
                continue;
            Dwarf_Addr base, lo, hi;
            ptrdiff_t off = 0;
            while ((off = dwarf_ranges(&fn, off, &base, &lo, &hi)) > 0) {
                if (x->n == cap) {
                    cap = cap ? cap * 2 : 256;
                    fn_range_t *p = realloc(x->v, cap * sizeof *p);
                    if (!p)
                        break;
                    x->v = p;
                }
                if (x->n < cap)
                    x->v[x->n++] = (fn_range_t){lo, hi, fn};
            }
        } while (dwarf_siblingof(&fn, &fn) == 0);
    }
    qsort(x->v, x->n, sizeof *x->v, by_lo);
    s->ncus++;
    return x;
}

/* The scopes (function, inlined calls, blocks) holding pc, innermost first: a malloc'd
 * array in *out and its length (0: no function holds pc). Found from the unit's function
 * index, then by descending that function's tree; dwarf_getscopes and dwarf_getscopes_die
 * walk the whole unit instead, for each address: seconds for CPython's ceval.c. */
static int scopes_of(memtap_symbolizer_t *s, Dwarf_Die *cu, Dwarf_Addr pc, Dwarf_Die **out) {
    *out = NULL;
    const cu_index_t *x = cu_index(s, cu);
    if (!x || !x->n)
        return 0;
    size_t lo = 0, hi = x->n; /* last range starting at or below pc */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (x->v[mid].lo <= pc)
            lo = mid;
        else
            hi = mid;
    }
    if (pc < x->v[lo].lo || pc >= x->v[lo].hi)
        return 0;
    Dwarf_Die path[256], child, cur = x->v[lo].die;
    int depth = 0;
    path[depth++] = cur;
    while (depth < 256 && dwarf_child(&cur, &child) == 0) {
        int descended = 0;
        do {
            int tag = dwarf_tag(&child);
            if ((tag == DW_TAG_inlined_subroutine || tag == DW_TAG_lexical_block) &&
                dwarf_haspc(&child, pc) == 1) {
                path[depth++] = cur = child;
                descended = 1;
                break;
            }
        } while (dwarf_siblingof(&child, &child) == 0);
        if (!descended)
            break;
    }
    *out = malloc((size_t)depth * sizeof **out);
    if (!*out)
        return 0;
    for (int i = 0; i < depth; i++)
        (*out)[i] = path[depth - 1 - i];
    return depth;
}

static void resolve_python(memtap_symbolizer_t *s, uint32_t image, uint64_t frame) {
    const memtap_py_code_t *c = memtap_replay_py_code(s->r, image, memtap_py_frame_code(frame));
    memtap_frame_t f = {c ? c->qualname : "<unknown Python code>", c ? c->filename : NULL,
                        memtap_py_frame_line(frame), NULL, frame, 0, c != NULL, 1};
    push(s, &f);
}

static void resolve(memtap_symbolizer_t *s, uint32_t image, uint64_t ip) {
    if (memtap_is_py_frame(ip)) {
        resolve_python(s, image, ip);
        return;
    }
    const memtap_module_t *m = memtap_replay_module(s->r, image, ip);
    memtap_frame_t f = {"??", NULL, 0, m ? m->path : NULL, ip, 0, 0, 0};
    Dwfl_Module *mod = m ? open_module(s, m) : NULL;
    uint64_t addr = m ? ip - m->bias - 1 : 0; /* return address: look at the call */
    if (m && !mod) {
        char buf[64 + 4096];
        const char *base = strrchr(m->path, '/');
        snprintf(buf, sizeof buf, "%s+0x%" PRIx64, base ? base + 1 : m->path, ip - m->bias);
        f.function = keep(s, buf, 0);
        push(s, &f);
        return;
    }
    if (!mod) {
        push(s, &f);
        return;
    }
    GElf_Off off;
    GElf_Sym sym;
    /* the symbol table is searched only when DWARF does not name the function: the search
     * is slow in large libraries (seconds for libpython's thousands of addresses) */
    const char *symname = NULL;
    Dwfl_Line *line = dwfl_module_getsrc(mod, addr);
    int lineno = 0;
    const char *file = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
    f.file = keep(s, (char *)file, 0);
    f.line = lineno > 0 ? (unsigned)lineno : 0;

    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = dwfl_module_addrdie(mod, addr, &bias);
    Dwarf_Die *scopes = NULL;
    int n = cu ? scopes_of(s, cu, addr - bias, &scopes) : 0;
    Dwarf_Files *files = NULL;
    size_t nfiles = 0;
    if (cu)
        dwarf_getsrcfiles(cu, &files, &nfiles);
    int emitted = 0;
    int lang = cu ? dwarf_srclang(cu) : -1;
    int cplusplus = lang == DW_LANG_C_plus_plus || lang == DW_LANG_C_plus_plus_03 ||
                    lang == DW_LANG_C_plus_plus_11 || lang == DW_LANG_C_plus_plus_14;
    for (int i = 0; i < n; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
            continue;
        /* the symbol table names the out-of-line function fully (class, namespace and
         * parameters); DWARF names the inlined ones */
        const char *linkage = tag == DW_TAG_subprogram ? linkage_name(&scopes[i]) : NULL;
        if (tag == DW_TAG_subprogram && !linkage && cplusplus) /* static C++ functions */
            linkage = symname = dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
        int cxx = linkage && linkage[0] == '_' && linkage[1] == 'Z';
        const char *name = cxx ? demangled(s, linkage)
                                                           : die_name(s, &scopes[i]);
        if (!name)
            symname = dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
        name = name ? name : (symname ? demangled(s, symname) : "??");
        /* GCC's partial inlining leaves a function inlined into its own split-off part:
         * one frame says it all */
        int repeat = emitted && !strcmp(s->frames[s->nframes - 1].function, name);
        f.function = name;
        f.known = 1;
        f.inlined = tag == DW_TAG_inlined_subroutine;
        if (repeat)
            s->frames[s->nframes - 1].inlined = f.inlined;
        else
            push(s, &f);
        emitted = 1;
        if (tag == DW_TAG_subprogram)
            break;
        /* the caller's position is where this inlined call was made */
        Dwarf_Attribute attr;
        Dwarf_Word w;
        f.file = NULL;
        f.line = 0;
        if (files && dwarf_attr(&scopes[i], DW_AT_call_file, &attr) && dwarf_formudata(&attr, &w) == 0)
            f.file = keep(s, (char *)dwarf_filesrc(files, w, NULL, NULL), 0);
        if (dwarf_attr(&scopes[i], DW_AT_call_line, &attr) && dwarf_formudata(&attr, &w) == 0)
            f.line = (unsigned)w;
    }
    free(scopes);
    if (!emitted) {
        symname = dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
        if (symname) {
            f.function = demangled(s, symname);
            f.known = 1;
        } else {
            char buf[64 + 4096];
            const char *base = strrchr(m->path, '/');
            snprintf(buf, sizeof buf, "%s+0x%" PRIx64, base ? base + 1 : m->path, ip - m->bias);
            f.function = keep(s, buf, 0);
        }
        f.inlined = 0;
        push(s, &f);
    }
}

static size_t slot(uint32_t node, size_t mask) { return (size_t)(node * 2654435761u) & mask; }

static void cache_grow(memtap_symbolizer_t *s) {
    size_t cap = (s->cache_mask + 1) * 2;
    node_entry_t *c = calloc(cap, sizeof *c);
    if (!c)
        return;
    for (size_t i = 0; i <= s->cache_mask; i++) {
        if (!s->cache[i].node)
            continue;
        size_t j = slot(s->cache[i].node, cap - 1);
        while (c[j].node)
            j = (j + 1) & (cap - 1);
        c[j] = s->cache[i];
    }
    free(s->cache);
    s->cache = c;
    s->cache_mask = cap - 1;
}

size_t memtap_symbolize_node(memtap_symbolizer_t *s, uint32_t node, const memtap_frame_t **out) {
    size_t i = slot(node, s->cache_mask);
    while (s->cache[i].node) {
        if (s->cache[i].node == node) {
            *out = &s->frames[s->cache[i].first];
            return s->cache[i].count;
        }
        i = (i + 1) & s->cache_mask;
    }
    const memtap_node_t *n = &s->r->nodes.v[node];
    size_t first = s->nframes;
    resolve(s, n->image, n->frame);
    if (s->nframes == first) { /* out of memory: one static unknown frame */
        static memtap_frame_t unknown = {"??", NULL, 0, NULL, 0, 0, 0, 0};
        *out = &unknown;
        return 1;
    }
    s->cache[i] = (node_entry_t){node, (uint32_t)first, (uint32_t)(s->nframes - first)};
    if (++s->cache_count * 4 > (s->cache_mask + 1) * 3)
        cache_grow(s);
    *out = &s->frames[first];
    return s->nframes - first;
}
