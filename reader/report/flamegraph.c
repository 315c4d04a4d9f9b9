/* memtap flamegraph: the capture's interactive flamegraph page, one self-contained HTML file
 * (reader/html/: the template and the page data). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "html/page_data.h"
#include "report/flame_cmd.h"
#include "report/report.h"

static const char usage[] =
    "usage: memtap flamegraph [-o FILE] [--force] [--peak|--leaks|--total|--count|--temporary]\n"
    "                         [--python-only] [--min-percent P] [--pid PID] FILE\n"
    "\n"
    "Writes the capture's flamegraph as one HTML file that works offline: views of the\n"
    "memory live at the peak, leaked, allocated in all, allocation calls and temporary\n"
    "allocations, the heap over time (click a moment to see what was live then), search,\n"
    "zoom, threads, Python frames. Prints the file's path.\n"
    "\n"
    "  -o FILE          the page (default: memtap-flamegraph-NAME.html in the current\n"
    "                   directory, NAME being the capture's name without .memtap)\n"
    "  -f, --force      replace FILE if it exists\n"
    "  --peak, --leaks, --total, --count, --temporary\n"
    "                   the view the page opens with (default --peak)\n"
    "  --python-only    open with \"Python frames only\" on\n"
    "  --min-percent P  stacks under P% of every view, and not among any view's 1,000\n"
    "                   largest, are merged into one [other] stack per thread\n"
    "                   (default 0.1; 0: none)\n"
    "  --pid PID        the process PID of the capture\n"
    "  -h, --help       this text\n";

/* memtap-flamegraph-NAME.html, NAME the capture's file name without ".memtap". */
static char *default_name(const char *capture) {
    const char *base = strrchr(capture, '/');
    base = base ? base + 1 : capture;
    size_t n = strlen(base);
    if (n > 7 && !strcmp(base + n - 7, ".memtap"))
        n -= 7;
    char *out = malloc(n + sizeof "memtap-flamegraph-.html");
    if (out)
        sprintf(out, "memtap-flamegraph-%.*s.html", (int)n, base);
    return out;
}

/* Writes the page of the loaded capture into path. Returns MEMTAP_EXIT_OK or the status. */
static int write_page(const memtap_flame_opts_t *o, const char *path, const memtap_replay_t *r,
                      const memtap_flame_t *f) {
    const memtap_timeline_t *tl = r->tl;
    memtap_tl_entry_t *temporal = malloc((tl->entries.n ? tl->entries.n : 1) * sizeof *temporal);
    size_t nt = temporal ? memtap_flame_temporal(f, tl->entries.v, tl->entries.n, tl->tsites.n,
                                                 temporal)
                         : (size_t)-1;
    if (nt == (size_t)-1) {
        free(temporal);
        fprintf(stderr, "memtap: out of memory\n");
        return MEMTAP_EXIT_BAD_INPUT;
    }
    memtap_page_input_t in = {o->path, r, f, temporal, nt, o->view, o->python_only};
    FILE *out = memtap_flame_open_output("flamegraph", path, o->force);
    int rc = MEMTAP_EXIT_USAGE;
    if (out) {
        int bad = memtap_page_write_data(out, &in) < 0;
        bad |= fclose(out) != 0;
        if (bad) {
            perror(path);
            unlink(path); /* no half page left behind */
        } else {
            rc = MEMTAP_EXIT_OK;
        }
    }
    free(temporal);
    return rc;
}

int memtap_cmd_flamegraph(int argc, char **argv) {
    memtap_flame_opts_t o;
    int rc = memtap_flame_parse(argc, argv, "flamegraph", usage, &o);
    if (rc >= 0)
        return rc;
    char *made = o.out ? NULL : default_name(o.path);
    const char *path = o.out ? o.out : made;
    if (!path) {
        fprintf(stderr, "memtap: out of memory\n");
        return MEMTAP_EXIT_BAD_INPUT;
    }
    if ((rc = memtap_flame_check_output("flamegraph", path, o.force)) >= 0) {
        free(made);
        return rc;
    }
    memtap_replay_t r;
    memtap_symbolizer_t *sym;
    memtap_flame_t f;
    rc = memtap_flame_load(&o, 1, &r, &sym, &f);
    if (rc == MEMTAP_EXIT_OK) {
        rc = write_page(&o, path, &r, &f);
        memtap_flame_free(&f);
        memtap_symbolizer_free(sym);
        memtap_replay_free(&r);
    }
    if (rc == MEMTAP_EXIT_OK)
        printf("%s\n", path);
    free(made);
    return rc;
}
