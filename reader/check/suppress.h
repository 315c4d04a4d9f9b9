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

/* Whether a glob (fnmatch) pattern matches one of frame f's names, as above. */
int memtap_frame_matches(const char *pattern, const memtap_frame_t *f);

#endif
