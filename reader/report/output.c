/* Human-readable output helpers. */
#include "report/output.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memtap/format.h"
#include "symbolize/stack_view.h"

const char *memtap_fmt_size(uint64_t bytes, char *buf, size_t cap) {
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024) {
        snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
        return buf;
    }
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    snprintf(buf, cap, "%.1f %s", v, units[u]);
    return buf;
}

const char *memtap_fmt_count(uint64_t n, char *buf, size_t cap) {
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    size_t o = 0;
    for (int i = 0; i < len && o + 2 < cap; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

static int color;

void memtap_color_init(void) {
    const char *no = getenv("NO_COLOR");
    color = isatty(STDOUT_FILENO) && !(no && *no);
}
const char *memtap_bold(void) { return color ? "\033[1m" : ""; }
const char *memtap_dim(void) { return color ? "\033[2m" : ""; }
const char *memtap_red(void) { return color ? "\033[31m" : ""; }
const char *memtap_reset(void) { return color ? "\033[0m" : ""; }

const char *memtap_short_path(const char *path) {
    static char cwd[PATH_MAX];
    static size_t cwd_len = (size_t)-1;
    if (!path)
        return NULL;
    if (cwd_len == (size_t)-1)
        cwd_len = getcwd(cwd, sizeof cwd) ? strlen(cwd) : 0;
    if (cwd_len > 1 && !strncmp(path, cwd, cwd_len) && path[cwd_len] == '/')
        return path + cwd_len + 1;
    return path;
}

static const char *basename_of(const char *p) {
    const char *b = p ? strrchr(p, '/') : NULL;
    return b ? b + 1 : p;
}

void memtap_print_stack(FILE *out, memtap_symbolizer_t *sym, const memtap_replay_t *r,
                        uint32_t node, int python_only, const char *indent) {
    static memtap_stack_view_t view;
    if (node == 0) {
        fprintf(out, "%s%s(no stack)%s\n", indent, memtap_dim(), memtap_reset());
        return;
    }
    if (memtap_stack_view(sym, r, node, python_only, &view) < 0) {
        fprintf(out, "%s(out of memory)\n", indent);
        return;
    }
    for (size_t i = 0; i < view.n; i++) {
        const memtap_frame_t *f = &view.v[i];
        fprintf(out, "%s%s%s%s", indent, f->known ? memtap_bold() : "", f->function, memtap_reset());
        if (f->file)
            fprintf(out, "  %s:%u", memtap_short_path(f->file), f->line);
        else if (f->module && f->known)
            fprintf(out, "  %s%s%s", memtap_dim(), basename_of(f->module), memtap_reset());
        if (f->python)
            fprintf(out, " %s[py]%s", memtap_dim(), memtap_reset());
        if (f->inlined)
            fprintf(out, " %s(inlined)%s", memtap_dim(), memtap_reset());
        fputc('\n', out);
    }
}

const char *memtap_kind_name(unsigned kind) {
    static const char *names[MEMTAP_KIND_COUNT] = {
        [MEMTAP_KIND_MALLOC] = "malloc",
        [MEMTAP_KIND_CALLOC] = "calloc",
        [MEMTAP_KIND_REALLOC] = "realloc",
        [MEMTAP_KIND_REALLOCARRAY] = "reallocarray",
        [MEMTAP_KIND_POSIX_MEMALIGN] = "posix_memalign",
        [MEMTAP_KIND_ALIGNED_ALLOC] = "aligned_alloc",
        [MEMTAP_KIND_MEMALIGN] = "memalign",
        [MEMTAP_KIND_VALLOC] = "valloc",
        [MEMTAP_KIND_PVALLOC] = "pvalloc",
        [MEMTAP_KIND_MMAP] = "mmap",
        [MEMTAP_KIND_PYMEM_RAW] = "pymem_raw",
        [MEMTAP_KIND_PYMEM_MEM] = "pymem",
        [MEMTAP_KIND_PYMEM_OBJ] = "pyobject",
    };
    return kind < MEMTAP_KIND_COUNT && names[kind] ? names[kind] : "unknown";
}
