/* The leak check on a capture: memtap check, and memtap run --check after the program
 * (check_cmd.c). */
#ifndef MEMTAP_READER_CHECK_CMD_H
#define MEMTAP_READER_CHECK_CMD_H

#include <stdio.h>

#include "check/verdict.h"

/* Judges every process of the capture at path (o->pid >= 0: that one only) with o's
 * classes, threshold and suppressions; prints the report on out (the leak sites that
 * count, the totals, the verdict's line), writes o's JSON and JUnit files. Sets *passed.
 * Returns MEMTAP_EXIT_OK when it judged, else the exit status of the error it printed (1:
 * unreadable capture or unwritable file, 2: a --pid it lacks, an unreadable suppressions
 * file). */
int memtap_check_capture(const char *path, const memtap_check_opts_t *o, FILE *out, int *passed);

int memtap_cmd_check(int argc, char **argv);

#endif
