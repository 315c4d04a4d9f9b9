/* JSON output of the reports (the only user of jansson). Sizes are exact byte counts,
 * addresses are hex strings. */
#ifndef MEMTAP_READER_JSON_OUT_H
#define MEMTAP_READER_JSON_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "check/classes.h"
#include "replay/replay.h"
#include "report/report.h"
#include "symbolize/symbolize.h"

/* {"allocations", "frees", "bytes_allocated", "peak_bytes", "leaked_bytes", ...,
 * "processes": [{"pid", "ppid", "command", ...}, ...]} for r, process `process` of c; the
 * processes a flat list in tree order (rows[0..n)), each naming its parent by "ppid". */
int memtap_json_summary(FILE *out, const char *path, const memtap_replay_t *r,
                        const memtap_container_t *c, uint32_t process,
                        const memtap_proc_row_t *rows, size_t n);

/* {"<key>": [{figures..., "stack": [{"function", "file", "line", "module", "address"}]}]}
 * for view[sites[0..n)]; key is "leaks" or "held" (blocks, bytes) or "sites" (peak, total,
 * count). Python frames have "python": true instead of module and address. With cls (the
 * leak classes of each view site, or NULL), "leaks" has "leak_scan" ("done", "none",
 * "mismatch"), "leak_classes" (the totals, by class key) and each leak its "classes". */
int memtap_json_sites(FILE *out, const char *key, const char *path, const memtap_replay_t *r,
                      memtap_symbolizer_t *sym, const memtap_site_t *view, const uint32_t *sites,
                      size_t n, int python_only, const memtap_amount_t (*cls)[MEMTAP_LC_COUNT]);

#endif
