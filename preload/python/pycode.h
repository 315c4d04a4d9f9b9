/* Python code objects as memtap names them: an id (1, 2, ... never reused in the process)
 * per code object seen on a stack, with a copy of its qualified name, file and first line
 * read from the object itself. Ids are found again by the object's address; the free of an
 * interned code object (seen by the OBJ domain's wrapper) takes it out, so a new code object
 * at the same address gets a new id. */
#ifndef MEMTAP_PRELOAD_PYCODE_H
#define MEMTAP_PRELOAD_PYCODE_H

#include <stdint.h>

#include "python/pylayout.h"

/* Reads code objects with this layout from now on; registers the code lock's fork
 * handlers. Once, before the first memtap_pycode_id, GIL held. */
void memtap_pycode_init(const memtap_py_layout_t *layout);

/* Moves on each time an interned code object is freed: a thread's cache of (address, id)
 * pairs is valid while the epoch it was filled in stays. Safe anywhere. */
uint32_t memtap_pycode_epoch(void);

/* The id of the code object at `code`, interned on first sight (its name, file and first
 * line copied). The calling thread's frames must keep the object alive. 0 when memtap is
 * out of memory. Safe inside an allocator hook and without the GIL: reads the object, calls
 * no Python API, takes the code lock. */
uint32_t memtap_pycode_id(const char *code);

/* A block the OBJ domain is about to free: when it is an interned code object, forgets it.
 * Must run before the real free (the address may be handed out again at once). Costs one
 * byte read for other blocks. Safe inside an allocator hook. */
void memtap_pycode_forget(const void *p);

#endif
