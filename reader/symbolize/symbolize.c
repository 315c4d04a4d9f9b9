/* libdw symbolizer with per-module and per-address caches. */
#include "symbolize/symbolize.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/vec.h"
#include "memtap/hashtab.h"
#include "symbolize/modules.h"

/* From libstdc++: demangles C++ names (C names come back NULL and are kept). */
char *__cxa_demangle(const char *mangled, char *out, size_t *len, int *status);

void *(*memtap_symbolize_realloc)(void *p, size_t n) = realloc;

/* Zeroed memory through the seam. */
static void *zalloc(size_t n) {
    void *p = memtap_symbolize_realloc(NULL, n);
    if (p)
        memset(p, 0, n);
    return p;
}

int memtap_symbolize_reserve(void **v, size_t *cap, size_t need, size_t elem) {
    return memtap_vec_reserve_by(memtap_symbolize_realloc, v, cap, need, elem);
}
#define RESERVE(v, cap, need) memtap_symbolize_reserve((void **)&(v), &(cap), (need), sizeof *(v))

/* The frames of one node: frames[first .. first + count). */
typedef struct {
    uint32_t node; /* 0: empty slot */
    uint32_t first, count;
} node_entry_t;
typedef MEMTAP_HASHTAB(node_entry_t) node_cache_t;

#define MEMTAP_HT_NAME node_cache
#define MEMTAP_HT_TABLE node_cache_t
#define MEMTAP_HT_SLOT node_entry_t
#define MEMTAP_HT_KEY uint32_t
#define MEMTAP_HT_HASH(node) ((node)*2654435761u)
#define MEMTAP_HT_SLOT_HASH(e) ((e)->node * 2654435761u)
#define MEMTAP_HT_EMPTY(e) ((e)->node == 0)
#define MEMTAP_HT_MATCH(e, k) ((e)->node == (k))
#define MEMTAP_HT_ALLOC(bytes) zalloc(bytes)
#define MEMTAP_HT_FREE(p, bytes) free(p)
#include "memtap/hashtab.h"

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
    memtap_dwfl_entry_t *dwfls;
    size_t ndwfls, dwfls_cap;
    node_cache_t cache;
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

memtap_symbolizer_t *memtap_symbolizer_new(const memtap_replay_t *r) {
    memtap_symbolizer_t *s = zalloc(sizeof *s);
    if (!s)
        return NULL;
    s->r = r;
    if (node_cache_init(&s->cache, 1024) < 0) {
        free(s);
        return NULL;
    }
    memtap_symbols_take_warm(r, &s->dwfls, &s->ndwfls, &s->dwfls_cap);
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
    node_cache_destroy(&s->cache);
    free(s->frames);
    free(s);
}

/* Keeps a copy of str for the symbolizer's lifetime (take: str is malloc'd already and
 * becomes the symbolizer's). NULL when str is, or when out of memory. */
static const char *keep(memtap_symbolizer_t *s, char *str, int take) {
    if (!str)
        return NULL;
    char *c = str;
    if (!take) {
        size_t n = strlen(str) + 1;
        if (!(c = memtap_symbolize_realloc(NULL, n)))
            return NULL;
        memcpy(c, str, n);
    }
    if (RESERVE(s->strings, s->strings_cap, s->nstrings + 1) < 0) {
        free(c);
        return NULL;
    }
    s->strings[s->nstrings++] = c;
    return c;
}

static const char *demangled(memtap_symbolizer_t *s, const char *name) {
    if (!name)
        return NULL;
    const char *at = strchr(name, '@'); /* symbol version: memcpy@@GLIBC_2.14 */
    if (at && at > name) {
        size_t n = (size_t)(at - name);
        char *plain = memtap_symbolize_realloc(NULL, n + 1);
        if (!plain)
            return NULL;
        memcpy(plain, name, n);
        plain[n] = '\0';
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

void memtap_open_dwfl(const char *path, const uint8_t *build_id, size_t build_id_len, Dwfl **dwfl,
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

int memtap_same_module(const memtap_module_t *a, const char *path, const uint8_t *build_id,
                       size_t build_id_len) {
    return !strcmp(a->path, path) && a->build_id_len == build_id_len &&
           !memcmp(a->build_id, build_id, build_id_len);
}

static Dwfl_Module *open_module(memtap_symbolizer_t *s, const memtap_module_t *m) {
    for (size_t i = 0; i < s->ndwfls; i++)
        if (s->dwfls[i].module == m ||
            memtap_same_module(s->dwfls[i].module, m->path, m->build_id, m->build_id_len))
            return s->dwfls[i].mod;
    if (RESERVE(s->dwfls, s->dwfls_cap, s->ndwfls + 1) < 0)
        return NULL;
    memtap_dwfl_entry_t *e = &s->dwfls[s->ndwfls++];
    e->module = m;
    memtap_open_dwfl(m->path, m->build_id, m->build_id_len, &e->dwfl, &e->mod);
    return e->mod;
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
    if (RESERVE(s->frames, s->frames_cap, s->nframes + 1) < 0)
        return -1;
    s->frames[s->nframes++] = *f;
    return 0;
}

/* Resolves ip: one frame per inlined function plus the function containing them. */
static int by_lo(const void *a, const void *b) {
    const fn_range_t *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Lists the address ranges of the unit's functions into x, by address. Out of memory, it
 * keeps those listed so far: addresses in the others fall back to the symbol table. */
static void index_functions(Dwarf_Die *cu, cu_index_t *x) {
    size_t cap = 0;
    Dwarf_Die fn;
    if (dwarf_child(cu, &fn) != 0)
        return;
    do {
        if (dwarf_tag(&fn) != DW_TAG_subprogram)
            continue;
        Dwarf_Addr base, lo, hi;
        ptrdiff_t off = 0;
        while ((off = dwarf_ranges(&fn, off, &base, &lo, &hi)) > 0) {
            /* (cap grows only once the memory is there: x->v[x->n] is in bounds) */
            if (RESERVE(x->v, cap, x->n + 1) < 0)
                goto sort;
            x->v[x->n++] = (fn_range_t){lo, hi, fn};
        }
    } while (dwarf_siblingof(&fn, &fn) == 0);
sort:
    if (x->n)
        qsort(x->v, x->n, sizeof *x->v, by_lo);
}

static const cu_index_t *cu_index(memtap_symbolizer_t *s, Dwarf_Die *cu) {
    for (size_t i = s->ncus; i > 0; i--)
        if (s->cus[i - 1].cu == cu->addr)
            return &s->cus[i - 1];
    if (RESERVE(s->cus, s->cus_cap, s->ncus + 1) < 0)
        return NULL;
    cu_index_t *x = &s->cus[s->ncus++];
    *x = (cu_index_t){cu->addr, NULL, 0};
    index_functions(cu, x);
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
    *out = memtap_symbolize_realloc(NULL, (size_t)depth * sizeof **out);
    if (!*out)
        return 0;
    for (int i = 0; i < depth; i++)
        (*out)[i] = path[depth - 1 - i];
    return depth;
}

static void resolve_python(memtap_symbolizer_t *s, uint32_t image, uint64_t frame) {
    const memtap_py_code_t *c = memtap_replay_py_code(s->r, image, memtap_py_frame_code(frame));
    memtap_frame_t f = {c ? c->qualname : "<unknown Python code>",
                        c ? c->filename : NULL,
                        memtap_py_frame_line(frame),
                        NULL,
                        frame,
                        0,
                        c != NULL,
                        1};
    push(s, &f);
}

/* "module+0xoffset": the name of a frame that symbols do not name. */
static const char *module_offset(memtap_symbolizer_t *s, const memtap_module_t *m, uint64_t ip) {
    char buf[64 + 4096];
    const char *base = strrchr(m->path, '/');
    snprintf(buf, sizeof buf, "%s+0x%" PRIx64, base ? base + 1 : m->path, ip - m->bias);
    const char *kept = keep(s, buf, 0);
    return kept ? kept : "??";
}

/* The symbol table's name for addr, as the table spells it, or NULL. The search is slow in
 * large libraries (seconds for libpython's thousands of addresses): only where DWARF names
 * no function. */
static const char *symbol_at(Dwfl_Module *mod, uint64_t addr) {
    GElf_Off off;
    GElf_Sym sym;
    return dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
}

/* The name of the function a scope (tag: DW_TAG_subprogram or DW_TAG_inlined_subroutine)
 * stands for. The symbol table names the out-of-line function fully (class, namespace and
 * parameters); DWARF names the inlined ones. */
static const char *scope_name(memtap_symbolizer_t *s, Dwfl_Module *mod, uint64_t addr,
                              Dwarf_Die *scope, int tag, int cplusplus) {
    const char *linkage = tag == DW_TAG_subprogram ? linkage_name(scope) : NULL;
    if (tag == DW_TAG_subprogram && !linkage && cplusplus) /* static C++ functions */
        linkage = symbol_at(mod, addr);
    int cxx = linkage && linkage[0] == '_' && linkage[1] == 'Z';
    const char *name = cxx ? demangled(s, linkage) : die_name(s, scope);
    if (!name)
        name = demangled(s, symbol_at(mod, addr));
    return name ? name : "??";
}

static int is_cplusplus(Dwarf_Die *cu) {
    int lang = dwarf_srclang(cu);
    return lang == DW_LANG_C_plus_plus || lang == DW_LANG_C_plus_plus_03 ||
           lang == DW_LANG_C_plus_plus_11 || lang == DW_LANG_C_plus_plus_14;
}

/* Pushes a frame per inlined call holding addr, innermost first, and one for the function
 * holding them, from the unit's DWARF scopes; f holds addr's own position. Returns whether
 * DWARF named any function there. */
static int push_scopes(memtap_symbolizer_t *s, Dwfl_Module *mod, uint64_t addr, memtap_frame_t f) {
    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = dwfl_module_addrdie(mod, addr, &bias), *scopes = NULL;
    int n = cu ? scopes_of(s, cu, addr - bias, &scopes) : 0, named = 0;
    Dwarf_Files *files = NULL;
    size_t nfiles = 0, first = s->nframes;
    if (cu)
        dwarf_getsrcfiles(cu, &files, &nfiles);
    for (int i = 0; i < n; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
            continue;
        f.function = scope_name(s, mod, addr, &scopes[i], tag, is_cplusplus(cu));
        f.known = 1;
        f.inlined = tag == DW_TAG_inlined_subroutine;
        named = 1;
        /* GCC's partial inlining leaves a function inlined into its own split-off part:
         * one frame says it all */
        if (s->nframes > first && !strcmp(s->frames[s->nframes - 1].function, f.function))
            s->frames[s->nframes - 1].inlined = f.inlined;
        else
            push(s, &f);
        if (tag == DW_TAG_subprogram)
            break;
        /* the caller's position is where this inlined call was made */
        Dwarf_Attribute attr;
        Dwarf_Word w;
        f.file = NULL;
        f.line = 0;
        if (files && dwarf_attr(&scopes[i], DW_AT_call_file, &attr) &&
            dwarf_formudata(&attr, &w) == 0)
            f.file = keep(s, (char *)dwarf_filesrc(files, w, NULL, NULL), 0);
        if (dwarf_attr(&scopes[i], DW_AT_call_line, &attr) && dwarf_formudata(&attr, &w) == 0)
            f.line = (unsigned)w;
    }
    free(scopes);
    return named;
}

/* The frames of a native instruction pointer of module m, whose file is open as mod. */
static void resolve_native(memtap_symbolizer_t *s, const memtap_module_t *m, Dwfl_Module *mod,
                           uint64_t ip) {
    uint64_t addr = ip - m->bias - 1; /* a return address: look at the call */
    memtap_frame_t f = {"??", NULL, 0, m->path, ip, 0, 0, 0};
    Dwfl_Line *line = dwfl_module_getsrc(mod, addr);
    int lineno = 0;
    const char *file = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
    f.file = keep(s, (char *)file, 0);
    f.line = lineno > 0 ? (unsigned)lineno : 0;
    if (push_scopes(s, mod, addr, f))
        return;
    const char *symbol = symbol_at(mod, addr), *name = demangled(s, symbol);
    f.function = name ? name : symbol ? "??" : module_offset(s, m, ip);
    f.known = symbol != NULL;
    push(s, &f);
}

static void resolve(memtap_symbolizer_t *s, uint32_t image, uint64_t ip) {
    if (memtap_is_py_frame(ip)) {
        resolve_python(s, image, ip);
        return;
    }
    const memtap_module_t *m = memtap_replay_module(s->r, image, ip);
    Dwfl_Module *mod = m ? open_module(s, m) : NULL;
    if (mod) {
        resolve_native(s, m, mod, ip);
        return;
    }
    /* no module maps ip, or its file is missing or changed */
    memtap_frame_t f = {
        m ? module_offset(s, m, ip) : "??", NULL, 0, m ? m->path : NULL, ip, 0, 0, 0};
    push(s, &f);
}

size_t memtap_symbolize_node(memtap_symbolizer_t *s, uint32_t node, const memtap_frame_t **out) {
    const node_entry_t *e = node_cache_find(&s->cache, node);
    if (e) {
        *out = &s->frames[e->first];
        return e->count;
    }
    const memtap_node_t *n = &s->r->nodes.v[node];
    size_t first = s->nframes;
    resolve(s, n->image, n->frame);
    if (s->nframes == first) { /* out of memory: one static unknown frame */
        static const memtap_frame_t unknown = {"??", NULL, 0, NULL, 0, 0, 0, 0};
        *out = &unknown;
        return 1;
    }
    int found;
    node_entry_t *c = node ? node_cache_upsert(&s->cache, node, &found) : NULL;
    if (c) /* (else out of memory: resolved again next time) */
        *c = (node_entry_t){node, (uint32_t)first, (uint32_t)(s->nframes - first)};
    *out = &s->frames[first];
    return s->nframes - first;
}
