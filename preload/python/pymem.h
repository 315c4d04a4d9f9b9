/* Wrappers around CPython's PyMem RAW, MEM and OBJ allocators and its arena allocator.
 *
 * The counting rule: a block is recorded once, by the outermost allocator the program
 * called. Each wrapper records its block and calls the allocator it replaced with the
 * reentrancy guard raised, so what that allocator does underneath (pymalloc taking a large
 * object from PyMem_RawMalloc, PyMem_RawMalloc calling malloc) is not recorded again.
 * pymalloc's arenas are never recorded: their memory is counted as the blocks handed out
 * of them. */
#ifndef MEMTAP_PRELOAD_PYMEM_H
#define MEMTAP_PRELOAD_PYMEM_H

/* From the library constructor, before the interpreter starts: wraps the arena allocator so
 * arenas are internal from the first one, and notes the block PySys_AddAuditHook allocates
 * with plain malloc (a debug allocator installed later must not free it). */
void memtap_pymem_before_start(void);
void memtap_pymem_note_hook_entry(void *p);

/* Wraps the three domains (GIL held, interpreter initialised). */
void memtap_pymem_install(void);

#endif
