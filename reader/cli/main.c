/* memtap: the command line. Dispatches to run and to the report commands. */
#include <stdio.h>
#include <string.h>

#include "report/output.h"
#include "cli/check_cmd.h"
#include "report/flame_cmd.h"
#include "report/report.h"

#ifndef MEMTAP_VERSION
#define MEMTAP_VERSION "dev"
#endif

static const char usage[] =
    "usage: memtap COMMAND [options] ...\n"
    "\n"
    "Tracks the allocations of C, C++ and Python programs and reports where memory went.\n"
    "\n"
    "commands:\n"
    "  run [-o FILE] -- PROGRAM [ARGS]   run PROGRAM under memtap, write a capture\n"
    "  run --check -- PROGRAM [ARGS]     the same, then fail (exit 23) when it leaked\n"
    "  summary FILE                      totals, peak heap, leaks, per allocator\n"
    "  leaks FILE                        never-freed memory grouped by stack\n"
    "  top [--by peak|total|count] FILE  allocation stacks ranked\n"
    "  flamegraph [-o FILE] FILE         the interactive flamegraph page (one HTML file)\n"
    "  export --format F FILE            folded stacks, speedscope or JSON tree (stdout)\n"
    "  check FILE                        the leak check of run --check on a capture\n"
    "\n"
    "Every report takes --json, and --pid PID to show one process of the run (default: the\n"
    "program run started). 'memtap COMMAND --help' tells more.\n"
    "  -h, --help     this text\n"
    "  -V, --version  the version\n";

int main(int argc, char **argv) {
    memtap_color_init();
    if (argc < 2) {
        fputs(usage, stderr);
        return MEMTAP_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return MEMTAP_EXIT_OK;
    }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
        printf("memtap %s (capture format %d)\n", MEMTAP_VERSION, MEMTAP_FORMAT_VERSION);
        return MEMTAP_EXIT_OK;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"run", memtap_cmd_run},
        {"summary", memtap_cmd_summary},
        {"leaks", memtap_cmd_leaks},
        {"top", memtap_cmd_top},
        {"flamegraph", memtap_cmd_flamegraph},
        {"export", memtap_cmd_export},
        {"check", memtap_cmd_check},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(cmd, cmds[i].name))
            return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "memtap: unknown command '%s' (see memtap --help)\n", cmd);
    return MEMTAP_EXIT_USAGE;
}
