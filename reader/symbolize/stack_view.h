/* A stack as the reports show it: native frames symbolized, and for Python programs the
 * interpreter loop's native frames replaced by the Python frames they were running. */
#ifndef MEMTAP_READER_STACK_VIEW_H
#define MEMTAP_READER_STACK_VIEW_H

#include <stddef.h>

#include "replay/replay.h"
#include "symbolize/symbolize.h"

typedef struct {
    memtap_frame_t *v; /* innermost first; strings owned by the symbolizer */
    size_t n, cap;
} memtap_stack_view_t;

/* Fills view (reset first) with the frames of the stack ending at node. python_only drops
 * native frames from stacks that have Python frames. Returns 0, or -1 when out of memory. */
int memtap_stack_view(memtap_symbolizer_t *sym, const memtap_replay_t *r, uint32_t node,
                      int python_only, memtap_stack_view_t *view);
void memtap_stack_view_free(memtap_stack_view_t *view);

#endif
