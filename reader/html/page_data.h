/* The flamegraph page's data (schema 1, docs/reports.md) from a loaded capture, written
 * into the page (page.h) as it is made. */
#ifndef MEMTAP_READER_PAGE_DATA_H
#define MEMTAP_READER_PAGE_DATA_H

#include <stddef.h>
#include <stdio.h>

#include "html/json_write.h"
#include "replay/replay.h"
#include "replay/timeline.h"
#include "report/flame.h"

typedef struct {
    const char *capture;                /* the capture's path, as given */
    const memtap_replay_t *r;           /* read to its end, its timeline finished */
    const memtap_flame_t *f;            /* built from memtap_flame_sites(r), python_only 0 */
    const memtap_tl_entry_t *temporal;  /* memtap_flame_temporal of r's timeline for f */
    size_t ntemporal;
    memtap_view_t view;                 /* the view the page opens with */
    int python_only;                    /* the page opens with "Python frames only" on */
} memtap_page_input_t;

/* The page data: one JSON object, into w. Returns 0, or -1 when a write failed. */
int memtap_page_data_json(memtap_jw_t *w, const memtap_page_input_t *in);

/* The whole page into out: the template with the data (written in html mode, so escaped as
 * memtap_page_data escapes it). Returns 0, or -1 when a write failed (errno says why); out
 * is buffered: its fclose() must be checked too. */
int memtap_page_write_data(FILE *out, const memtap_page_input_t *in);

#endif
