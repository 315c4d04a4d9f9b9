/* A capture's processes in the reports (reader/report/load.c, report_summary.c): summary
 * lists them as a tree (text and JSON) after the shown process's figures, --pid chooses
 * the process every report shows, an unknown pid lists the capture's, leaks and top name
 * the other processes that leaked; killed and empty processes read as such. */
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <unistd.h>

#include "report/report.h"
#include "support/golden.h"
#include "support/pieces_builder.h"

static golden_t g;
static char out[1 << 16], err[1 << 14];
static pb_image_t im[5];
static size_t nim;
static json_t *json;

static void teardown(void) {
    golden_done(&g);
    for (size_t i = 0; i < nim; i++)
        pb_image_free(&im[i]);
    json_decref(json);
}
TestSuite(processes, .fini = teardown);

static void slurp(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY);
    ssize_t n = read(fd, buf, cap - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
}

/* Runs `memtap CMD ARGS... FILE` (argv, NULL-terminated) in this process: returns its exit
 * status, its stdout in out and its stderr in err. */
static int run(int (*cmd)(int, char **), const char **argv) {
    char o[64], e[64];
    snprintf(o, sizeof o, "/tmp/memtap-unit-out-%d", (int)getpid());
    snprintf(e, sizeof e, "/tmp/memtap-unit-err-%d", (int)getpid());
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    int fo = open(o, O_WRONLY | O_CREAT | O_TRUNC, 0644),
        fe = open(e, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fo, 1);
    dup2(fe, 2);
    close(fo);
    close(fe);
    int argc = 0;
    while (argv[argc])
        argc++;
    int rc = cmd(argc, (char **)argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    slurp(o, out, sizeof out);
    slurp(e, err, sizeof err);
    return rc;
}

static json_t *member(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    cr_assert(v, "no \"%s\" in %s", key, out);
    return v;
}
static long long num(json_t *o, const char *key) {
    return json_integer_value(member(o, key));
}

Test(processes, summary_lists_the_tree_after_the_root, .timeout = 30) {
    golden_load(&g, "pieces_two_processes");
    const char *argv[] = {"summary", g.path, NULL};
    cr_assert_eq(run(memtap_cmd_summary, argv), 0, "%s", err);
    cr_assert_str_eq(err, "");
    cr_assert(strstr(out, "Command          prog\n"), "the root's summary first:\n%s", out);
    cr_assert(strstr(out, "Process          pid 1000, 1 thread, ran 0.01 s\n"), "%s", out);
    char want[1024];
    snprintf(want, sizeof want,
             "\nProcesses (2; memtap summary --pid PID %s shows one)\n"
             "        pid    parent   duration  allocations       peak     leaked  command\n"
             "*      1000         1     0.01 s            2       32 B       16 B  prog\n"
             "       1001      1000     0.00 s            1      100 B      100 B    prog child\n",
             g.path);
    cr_assert(strstr(out, want), "%s", out);
}

Test(processes, summary_json_has_every_process, .timeout = 30) {
    golden_load(&g, "pieces_two_processes");
    const char *argv[] = {"summary", "--json", g.path, NULL};
    cr_assert_eq(run(memtap_cmd_summary, argv), 0, "%s", err);
    json = json_loads(out, 0, NULL);
    cr_assert(json, "%s", out);
    cr_assert_eq(num(json, "pid"), 1000);
    cr_assert_eq(num(json, "allocations"), 2);
    json_t *procs = member(json, "processes");
    cr_assert_eq(json_array_size(procs), 2);
    /* each process's figures, in tree order */
    static const char *keys[] = {"pid",          "ppid",         "depth",           "duration_ms",
                                 "allocations",  "frees",        "bytes_allocated", "peak_bytes",
                                 "leaked_bytes", "leaked_blocks"};
    static const long long want[2][10] = {{1000, 1, 0, 5, 2, 1, 32, 32, 16, 1},
                                          {1001, 1000, 1, 3, 1, 0, 100, 100, 100, 1}};
    for (size_t i = 0; i < 2; i++)
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
            cr_assert_eq(num(json_array_get(procs, i), keys[k]), want[i][k], "process %zu: %s", i,
                         keys[k]);
    json_t *p = json_array_get(procs, 0), *q = json_array_get(procs, 1);
    cr_assert_str_eq(json_string_value(member(p, "command")), "prog");
    cr_assert_str_eq(json_string_value(member(q, "command")), "prog child");
    cr_assert(json_is_true(member(p, "complete")) && json_is_true(member(q, "complete")));
    cr_assert(json_is_true(member(p, "root")));
    cr_assert_null(json_object_get(p, "killed_by"));
    cr_assert_null(json_object_get(q, "root"));
}

Test(processes, pid_chooses_the_process_shown, .timeout = 30) {
    golden_load(&g, "pieces_two_processes");
    const char *argv[] = {"summary", "--json", "--pid", "1001", g.path, NULL};
    cr_assert_eq(run(memtap_cmd_summary, argv), 0, "%s", err);
    json = json_loads(out, 0, NULL);
    cr_assert(json, "%s", out);
    cr_assert_eq(num(json, "pid"), 1001);
    cr_assert_eq(num(json, "ppid"), 1000);
    cr_assert_eq(num(json, "allocations"), 1);
    cr_assert_eq(num(json, "unmatched_frees"), 1);
    cr_assert_eq(num(json, "leaked_bytes"), 100);
    cr_assert_str_eq(json_string_value(member(json, "command")), "prog child");
    const char *leaks[] = {"leaks", "--json", "--pid", "1001", g.path, NULL};
    cr_assert_eq(run(memtap_cmd_leaks, leaks), 0, "%s", err);
    cr_assert_str_eq(err, "", "no notes with --pid");
    json_decref(json);
    json = json_loads(out, 0, NULL);
    cr_assert_eq(num(json, "pid"), 1001);
    cr_assert_eq(num(json, "leaked_bytes"), 100);
}

Test(processes, an_unknown_pid_lists_the_capture_s, .timeout = 30) {
    golden_load(&g, "pieces_two_processes");
    const char *cmds[] = {"summary", "leaks", "top"};
    int (*fns[])(int, char **) = {memtap_cmd_summary, memtap_cmd_leaks, memtap_cmd_top};
    for (int i = 0; i < 3; i++) {
        const char *argv[] = {cmds[i], "--pid", "7", g.path, NULL};
        cr_assert_eq(run(fns[i], argv), 2, "%s", cmds[i]);
        char want[256];
        snprintf(want, sizeof want, "memtap: %s has no process 7 (processes: 1000, 1001)\n",
                 g.path);
        cr_assert_str_eq(err, want);
        cr_assert_str_eq(out, "");
    }
    const char *bad[] = {"summary", "--pid", "0x10", g.path, NULL};
    cr_assert_eq(run(memtap_cmd_summary, bad), 2);
    cr_assert_str_eq(err, "memtap summary: --pid takes a process id (a whole number > 0), not "
                          "'0x10'\n");
}

Test(processes, leaks_and_top_name_the_other_processes_that_leaked, .timeout = 30) {
    golden_load(&g, "pieces_two_processes");
    char want[256];
    snprintf(want, sizeof want,
             "memtap: process 1001 (prog child) leaked 100 B in 1 block: "
             "memtap leaks --pid 1001 %s\n",
             g.path);
    const char *leaks[] = {"leaks", g.path, NULL}, *top[] = {"top", "--json", g.path, NULL};
    cr_assert_eq(run(memtap_cmd_leaks, leaks), 0, "%s", err);
    cr_assert_str_eq(err, want);
    cr_assert(strstr(out, "Leaked 16 B in 1 blocks from 1 stack"), "the root's: %s", out);
    cr_assert_eq(run(memtap_cmd_top, top), 0, "%s", err);
    cr_assert_str_eq(err, want);
    /* the child's own report names no other: its parent is not "another that leaked" for
     * it, as it was chosen */
    const char *child[] = {"leaks", "--pid", "1001", g.path, NULL};
    cr_assert_eq(run(memtap_cmd_leaks, child), 0, "%s", err);
    cr_assert_str_eq(err, "");
}

Test(processes, a_killed_process_says_its_signal, .timeout = 30) {
    golden_load(&g, "pieces_killed");
    const char *argv[] = {"summary", g.path, NULL};
    cr_assert_eq(run(memtap_cmd_summary, argv), 0, "%s", err);
    char want[256];
    snprintf(want, sizeof want,
             "memtap: %s: incomplete capture (process 3000 was killed by "
             "signal 9); figures cover what was written\n",
             g.path);
    cr_assert_str_eq(err, want);
    snprintf(want, sizeof want, "Capture          %s (INCOMPLETE: killed by signal 9)\n", g.path);
    cr_assert(strstr(out, want), "%s", out);
    cr_assert_null(strstr(out, "Processes ("), "one process: no list");
    const char *js[] = {"summary", "--json", g.path, NULL};
    cr_assert_eq(run(memtap_cmd_summary, js), 0, "%s", err);
    json = json_loads(out, 0, NULL);
    cr_assert(json, "%s", out);
    cr_assert(json_is_false(member(json, "complete")));
    cr_assert_eq(num(json, "killed_by"), 9);
    cr_assert_eq(num(json, "images"), 2);
    cr_assert_eq(num(json, "allocations"), 4);
    cr_assert_eq(num(json, "leaked_bytes"), 96);
    json_t *p = json_array_get(member(json, "processes"), 0);
    cr_assert_eq(num(p, "killed_by"), 9);
    cr_assert(json_is_false(member(p, "complete")));
}

/* A process that wrote no record (its piece's LZ4 frame cut after its header): zeros. */
Test(processes, a_process_without_records_has_zeros, .timeout = 30) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/memtap-unit-empty-%d.memtap", (int)getpid());
    FILE *fp = fopen(path, "wb");
    cb_piece_header(fp, 1, CB_WHOLE_IMAGE, 4321, 0);
    cb_compress(fp, (const uint8_t *)"", 0, 0);
    fclose(fp);
    const char *argv[] = {"summary", "--json", path, NULL};
    cr_assert_eq(run(memtap_cmd_summary, argv), 0, "%s", err);
    json = json_loads(out, 0, NULL);
    cr_assert(json, "%s", out);
    cr_assert_eq(num(json, "pid"), 4321);
    cr_assert_eq(num(json, "allocations"), 0);
    cr_assert_eq(num(json, "leaked_bytes"), 0);
    cr_assert(json_is_false(member(json, "complete")));
    const char *text[] = {"summary", path, NULL};
    cr_assert_eq(run(memtap_cmd_summary, text), 0, "%s", err);
    cr_assert(strstr(out, "Command          (no records)\n"), "%s", out);
    cr_assert(strstr(out, "Allocations      0 calls, 0 B\n"), "%s", out);
    unlink(path);
}

/* Tree order: each process after its parent, siblings in the order they started, whatever
 * the order of their first pieces: A starts B, C and E, B starts D after C started. Each
 * leaks 10 bytes times its rank. */
static void tree(char *path, size_t cap) {
    static const char *cmd[] = {"a", "b", "c", "d", "e"};
    static const uint64_t pid[] = {10, 11, 12, 13, 14}, ppid[] = {1, 10, 10, 11, 10};
    pb_proc_t procs[5];
    for (size_t i = 0; i < 5; i++) {
        pb_image_begin(&im[i], i ? MEMTAP_HDR_FORK_CHILD : 0, pid[i], ppid[i], cmd[i], 2, i);
        pb_alloc(&im[i], 0x1000, 10 * (i + 1));
        pb_image_end(&im[i], MEMTAP_REC_EXIT, 1);
        procs[i] = (pb_proc_t){.pid = pid[i], .root = !i, .images = {&im[i]}, .nimages = 1};
    }
    nim = 5;
    snprintf(path, cap, "/tmp/memtap-unit-tree-%d.memtap", (int)getpid());
    pb_write(path, procs, 5, 40);
}

Test(processes, the_tree_in_order_and_indented, .timeout = 30) {
    char path[64];
    tree(path, sizeof path);
    const char *argv[] = {"summary", "--pid", "13", path, NULL};
    cr_assert_eq(run(memtap_cmd_summary, argv), 0, "%s", err);
    const char *list = strstr(out, "\nProcesses (5;");
    cr_assert(list, "%s", out);
    const char *pa = strstr(list, "  a\n"), *pb = strstr(list, "    b\n"),
               *pd = strstr(list, "*        13        11"), *pc = strstr(list, "    c\n"),
               *pe = strstr(list, "    e\n");
    cr_assert(pa && pb && pd && pc && pe && pa < pb && pb < pd && pd < pc && pc < pe, "%s", list);
    cr_assert(strstr(pd, "      d\n"), "d, two levels down: %s", list);
    unlink(path);
}

/* The other processes that leaked most are named, the rest counted in one line. */
Test(processes, a_few_notes_then_one_line_for_the_rest, .timeout = 30) {
    char path[64];
    tree(path, sizeof path);
    const char *argv[] = {"leaks", path, NULL};
    cr_assert_eq(run(memtap_cmd_leaks, argv), 0, "%s", err);
    char want[1024];
    snprintf(want, sizeof want,
             "memtap: process 14 (e) leaked 50 B in 1 block: memtap leaks --pid 14 %s\n"
             "memtap: process 13 (d) leaked 40 B in 1 block: memtap leaks --pid 13 %s\n"
             "memtap: process 12 (c) leaked 30 B in 1 block: memtap leaks --pid 12 %s\n"
             "memtap: 1 more process leaked 20 B in all: memtap summary %s lists them\n",
             path, path, path, path);
    cr_assert_str_eq(err, want);
    cr_assert(strstr(out, "Leaked 10 B in 1 blocks"), "the root's report: %s", out);
    unlink(path);
}
