/* The program memtap run starts (program.c). */
#ifndef MEMTAP_READER_PROGRAM_H
#define MEMTAP_READER_PROGRAM_H

#include <stddef.h>

/* Finds PROGRAM the way execvp will, writing its path into out. Returns 0 when it exists
 * and is executable, else -1 (errno says why for a path with a slash). */
int memtap_find_program(const char *prog, char *out, size_t cap);

/* 1 with a sentence in why when the loader will not preload libmemtap.so into PROGRAM
 * (statically linked, set-user-ID or set-group-ID for another user); else 0. */
int memtap_untrackable_reason(const char *prog, char *why, size_t cap);

#endif
