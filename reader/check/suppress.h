/* Suppressions of the leak check: `leak:PATTERN` lines of the user's files, the built-in
 * list (one-time allocations of libc, ld.so and libstdc++ that are not the program's) and
 * the Python rule (memory the interpreter itself never frees), matched against a stack as
 * the reports show it. May call symbolize (frames only) and libc. */
#ifndef MEMTAP_READER_CHECK_SUPPRESS_H
#define MEMTAP_READER_CHECK_SUPPRESS_H

#include <stddef.h>

#include "symbolize/symbolize.h"

typedef struct memtap_suppressions memtap_suppressions_t;

/* A new list, with the built-in rules when defaults is 1. NULL when out of memory. */
memtap_suppressions_t *memtap_suppressions_new(int defaults);
void memtap_suppressions_free(memtap_suppressions_t *s);

/* Adds the rules of the file at path: lines `leak:PATTERN` (PATTERN a glob, fnmatch(3)),
 * blank lines and `#` comments; leading and trailing blanks are ignored. Returns 0, or -1
 * with one line in err (file:line and why) for an unreadable file or a line of another
 * form. */
int memtap_suppressions_load(memtap_suppressions_t *s, const char *path, char *err, size_t cap);

/* Adds one pattern (as a `leak:` line's). Returns 0, or -1 when out of memory. */
int memtap_suppressions_add(memtap_suppressions_t *s, const char *pattern, const char *origin);

/* The rule that suppresses the stack frames[0..n) (innermost first, Python frames merged
 * as stack_view.h does), as a static or list-owned string ("leak:PATTERN (FILE)", "built-in:
 * ...", "python: ..."), or NULL when none does. A pattern matches when it matches, whole,
 * one frame's function name (C++: with or without its parameter list), its source file's
 * path or base name, or its module's path or base name. */
const char *memtap_suppressions_match(const memtap_suppressions_t *s, const memtap_frame_t *frames,
                                      size_t n);

/* The rule that suppresses the lost classes only (definitely, indirectly, possibly lost and
 * unknown) of the stack frames[0..n), or NULL: with the built-in rules, memory the Python
 * interpreter allocated for the user's pure Python code (its innermost Python frame is
 * the user's, every native frame below it the interpreter's or the runtime's). Pure Python
 * code cannot lose memory; the interpreter's finalization can (docs/python.md). Its
 * blocks still reachable at exit (objects a global keeps, under os._exit) stay judged. */
const char *memtap_suppressions_match_lost(const memtap_suppressions_t *s,
                                           const memtap_frame_t *frames, size_t n);

/* 1 when frames[0..n) is a block a native library allocated itself (its innermost frame
 * is neither the interpreter's nor the C runtime's: an extension module's malloc, ctypes'
 * libffi calling malloc) under the Python interpreter. The check judges such a block when
 * it is possibly lost too: the interpreter's memory scanned as roots (pymalloc arenas, its
 * frame stacks) holds stale values that point into blocks long dropped, so valgrind's
 * "definitely lost" comes out "possibly lost" here (docs/python.md). */
int memtap_python_native_block(const memtap_frame_t *frames, size_t n);

/* Whether a glob (fnmatch) pattern matches one of frame f's names, as above. */
int memtap_frame_matches(const char *pattern, const memtap_frame_t *f);

#endif
