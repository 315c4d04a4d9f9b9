/* The leak check's suppressions: the file syntax, how a pattern matches a frame, the
 * built-in rules for libc and ld.so, and the Python rule (reader/check/suppress.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check/suppress.h"

#define TIMEOUT 30

static memtap_frame_t native(const char *function, const char *file, const char *module) {
    return (memtap_frame_t){.function = function, .file = file, .line = file ? 10 : 0,
                            .module = module, .known = 1};
}

static memtap_frame_t py(const char *function, const char *file) {
    return (memtap_frame_t){.function = function, .file = file, .line = 3, .python = 1};
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *write_file(const char *text) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/memtap-supp-%d.txt", (int)getpid());
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

Test(suppress, file_lines_comments_and_errors, .timeout = TIMEOUT) {
    memtap_suppressions_t *s = memtap_suppressions_new(0);
    char err[256] = "";
    const char *path = write_file("# known\n\n  leak:lose_*  \nleak:libfoo.so*\n");
    cr_assert_eq(memtap_suppressions_load(s, path, err, sizeof err), 0, "%s", err);
    memtap_frame_t a[] = {native("lose_blocks", "/src/leaky.c", "/bin/leaky")};
    memtap_frame_t b[] = {native("helper", NULL, "/usr/lib/libfoo.so.1"),
                          native("main", "/src/m.c", "/bin/m")};
    memtap_frame_t c[] = {native("keep", "/src/k.c", "/bin/k")};
    char want[300];
    snprintf(want, sizeof want, "leak:lose_* (%s:3)", path);
    cr_assert_str_eq(memtap_suppressions_match(s, a, N(a)), want);
    cr_assert_not_null(memtap_suppressions_match(s, b, N(b)), "a module's base name");
    cr_assert_null(memtap_suppressions_match(s, c, N(c)));
    path = write_file("leak:ok\nlose_blocks\n");
    cr_assert_eq(memtap_suppressions_load(s, path, err, sizeof err), -1);
    char line[300];
    snprintf(line, sizeof line, "%s:2: not a suppression: 'lose_blocks'", path);
    cr_assert(strstr(err, line), "%s", err);
    cr_assert_eq(memtap_suppressions_load(s, "/nonexistent/x.supp", err, sizeof err), -1);
    cr_assert(strstr(err, "/nonexistent/x.supp: No such file"), "%s", err);
    unlink(path);
    memtap_suppressions_free(s);
}

Test(suppress, frame_names_matched_whole, .timeout = TIMEOUT) {
    memtap_frame_t f = native("ns::cache<int>::fill(int, char const*)", "/src/dir/cache.cpp",
                              "/opt/app/libcache.so.2");
    cr_assert(memtap_frame_matches("ns::cache<int>::fill", &f), "without the parameters");
    cr_assert(memtap_frame_matches("ns::cache*", &f));
    cr_assert(memtap_frame_matches("cache.cpp", &f), "the file's base name");
    cr_assert(memtap_frame_matches("/src/*/cache.cpp", &f), "the file's path");
    cr_assert(memtap_frame_matches("libcache.so*", &f), "the module's base name");
    cr_assert_not(memtap_frame_matches("fill", &f), "a pattern matches a name whole");
    cr_assert_not(memtap_frame_matches("cache", &f));
}

Test(suppress, defaults_libc_and_runtime_only, .timeout = TIMEOUT) {
    memtap_suppressions_t *on = memtap_suppressions_new(1), *off = memtap_suppressions_new(0);
    memtap_frame_t stdio[] = {native("__GI__IO_file_doallocate", "filedoalloc.c", "/lib/libc.so.6"),
                              native("main", "/src/m.c", "/bin/m")};
    memtap_frame_t pw[] = {native("getpwuid", NULL, "/lib/libc.so.6"),
                           native("main", "/src/m.c", "/bin/m")};
    memtap_frame_t tls[] = {native("_dl_allocate_tls", NULL, "/lib/ld-linux-x86-64.so.2"),
                            native("pthread_create@@GLIBC_2.34", NULL, "/lib/libc.so.6"),
                            native("main", "/src/m.c", "/bin/m")};
    memtap_frame_t init[] = {native("pool", NULL, "/lib/libstdc++.so.6"),
                             native("call_init", NULL, "/lib/ld-linux-x86-64.so.2")};
    memtap_frame_t own[] = {native("strdup", NULL, "/lib/libc.so.6"),
                            native("main", "/src/m.c", "/bin/m")};
    cr_assert_str_eq(memtap_suppressions_match(on, stdio, N(stdio)),
                     "built-in: a one-time allocation of libc or ld.so");
    cr_assert_not_null(memtap_suppressions_match(on, pw, N(pw)));
    cr_assert_not_null(memtap_suppressions_match(on, tls, N(tls)));
    cr_assert_str_eq(memtap_suppressions_match(on, init, N(init)),
                     "built-in: a stack of the C and C++ runtime only");
    cr_assert_null(memtap_suppressions_match(on, own, N(own)), "the program's strdup");
    cr_assert_null(memtap_suppressions_match(off, stdio, N(stdio)), "--no-default-suppressions");
    cr_assert_null(memtap_suppressions_match(off, init, N(init)));
    memtap_suppressions_free(on);
    memtap_suppressions_free(off);
}

/* A shell's own memory (its frames and the runtime's only) is suppressed; a program a
 * shell runs, or a library a shell loaded that is not the runtime, is judged. */
Test(suppress, defaults_shells, .timeout = TIMEOUT) {
    memtap_suppressions_t *on = memtap_suppressions_new(1), *off = memtap_suppressions_new(0);
    memtap_frame_t bash[] = {native("malloc", NULL, "/lib/libc.so.6"),
                             native("xmalloc", NULL, "/usr/bin/bash"),
                             native("main", NULL, "/usr/bin/bash"),
                             native("__libc_start_main", NULL, "/lib/libc.so.6")};
    memtap_frame_t dash[] = {native("ckmalloc", NULL, "/bin/dash")};
    memtap_frame_t plugin[] = {native("load", "/src/p.c", "/usr/lib/libplugin.so"),
                               native("main", NULL, "/usr/bin/bash")};
    memtap_frame_t mine[] = {native("make", "/src/m.c", "/home/u/bashful"),
                             native("main", "/src/m.c", "/home/u/bashful")};
    cr_assert_str_eq(memtap_suppressions_match(on, bash, N(bash)),
                     "built-in: a shell's own memory (shells free nothing at exit)");
    cr_assert_not_null(memtap_suppressions_match(on, dash, N(dash)));
    cr_assert_null(memtap_suppressions_match(on, plugin, N(plugin)), "not the shell's frames");
    cr_assert_null(memtap_suppressions_match(on, mine, N(mine)), "a module named like one");
    cr_assert_null(memtap_suppressions_match(off, bash, N(bash)), "--no-default-suppressions");
    memtap_suppressions_free(on);
    memtap_suppressions_free(off);
}

#define LIBPY "/usr/lib/libpython3.12.so.1.0"

Test(suppress, python_rule, .timeout = TIMEOUT) {
    memtap_suppressions_t *s = memtap_suppressions_new(1);
    /* the interpreter's own: import machinery, the standard library, start-up */
    memtap_frame_t import[] = {native("PyUnicode_New", "unicodeobject.c", LIBPY),
                               py("_find_and_load", "<frozen importlib._bootstrap>"),
                               py("<module>", "/home/u/app.py")};
    memtap_frame_t stdlib[] = {native("PyDict_New", "dictobject.c", LIBPY),
                               py("compile", "/usr/lib/python3.12/re/__init__.py"),
                               py("main", "/home/u/app.py")};
    memtap_frame_t startup[] = {native("_PyMem_RawMalloc", "obmalloc.c", LIBPY),
                                native("Py_BytesMain", NULL, "/usr/bin/python3.12"),
                                native("__libc_start_main", NULL, "/lib/libc.so.6")};
    cr_assert_str_eq(memtap_suppressions_match(s, import, N(import)),
                     "built-in: the Python interpreter's own memory");
    cr_assert_not_null(memtap_suppressions_match(s, stdlib, N(stdlib)));
    cr_assert_not_null(memtap_suppressions_match(s, startup, N(startup)));
    /* the user's pure Python code: its lost blocks only */
    memtap_frame_t user[] = {native("PyByteArray_Resize", "bytearrayobject.c", LIBPY),
                             py("keep", "/home/u/app.py")};
    cr_assert_null(memtap_suppressions_match(s, user, N(user)));
    cr_assert_not_null(memtap_suppressions_match_lost(s, user, N(user)));
    cr_assert_null(memtap_suppressions_match_lost(s, import, N(import)) , "(matched whole)");
    /* an extension's own malloc, ctypes through libffi: never */
    memtap_frame_t ext[] = {native("ext_lose", "ext.c", "/tmp/memtap_ext.so"),
                            native("cfunction_vectorcall_O", "methodobject.c", LIBPY),
                            py("lose", "/home/u/app.py")};
    memtap_frame_t ffi[] = {native("libffi.so.8+0x6f7a", NULL, "/lib/libffi.so.8"),
                            native("ffi_call", NULL, "/lib/libffi.so.8"),
                            native("_ctypes_callproc", "callproc.c", LIBPY),
                            py("lose", "/home/u/app.py")};
    cr_assert_null(memtap_suppressions_match(s, ext, N(ext)));
    cr_assert_null(memtap_suppressions_match_lost(s, ext, N(ext)));
    cr_assert_null(memtap_suppressions_match(s, ffi, N(ffi)));
    cr_assert_eq(memtap_python_native_block(ext, N(ext)), 1);
    cr_assert_eq(memtap_python_native_block(ffi, N(ffi)), 1);
    cr_assert_eq(memtap_python_native_block(user, N(user)), 0);
    /* what an extension hands the interpreter to keep: its module, interned strings */
    memtap_frame_t pyinit[] = {native("PyUnicode_New", "unicodeobject.c", LIBPY),
                               native("PyModule_AddFunctions", "moduleobject.c", LIBPY),
                               native("PyInit_memtap_ext", "ext.c", "/tmp/memtap_ext.so"),
                               native("_imp_create_dynamic", "import.c", LIBPY)};
    memtap_frame_t intern[] = {native("PyUnicode_New", "unicodeobject.c", LIBPY),
                               native("PyUnicode_InternFromString", "unicodeobject.c", LIBPY),
                               native("ext_names", "ext.c", "/tmp/memtap_ext.so")};
    memtap_frame_t ext_obj[] = {native("PyUnicode_New", "unicodeobject.c", LIBPY),
                                native("ext_make", "ext.c", "/tmp/memtap_ext.so")};
    cr_assert_not_null(memtap_suppressions_match(s, pyinit, N(pyinit)));
    cr_assert_not_null(memtap_suppressions_match(s, intern, N(intern)));
    cr_assert_null(memtap_suppressions_match(s, ext_obj, N(ext_obj)), "an object it lost");
    cr_assert_eq(memtap_python_native_block(ext_obj, N(ext_obj)), 0, "made by the interpreter");
    /* not a Python process */
    memtap_frame_t c[] = {native("main", "/src/m.c", "/bin/m")};
    cr_assert_eq(memtap_python_native_block(c, N(c)), 0);
    cr_assert_null(memtap_suppressions_match_lost(s, c, N(c)));
    memtap_suppressions_free(s);
}
