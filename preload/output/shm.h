/* Collector mode (include/memtap/collector.h): when `memtap run` collects, the process's
 * record buffers and the ring its chunks go to live in a region of shared memory that the
 * collector also maps. This file makes the region, says hello, hands out thread slots and
 * puts items into the ring. Safe inside malloc: no allocation, no lock but its own. */
#ifndef MEMTAP_PRELOAD_SHM_H
#define MEMTAP_PRELOAD_SHM_H

#include <stddef.h>
#include <stdint.h>

#include "memtap/collector.h"

/* The region of this process; NULL when not in collector mode. */
extern memtap_shm_control_t *memtap_shm;

/* 1 when a collector is named in the environment (MEMTAP_COLLECTOR). */
int memtap_shm_wanted(void);

/* Makes the region (thread slots of slot_size bytes, their data at data_offset) and hands
 * it to the collector. Returns 0, or -1 after saying why on stderr. Holds no descriptor
 * afterwards. In a fork child, call memtap_shm_forget first. */
int memtap_shm_connect(uint32_t slot_size, uint32_t data_offset);

/* A fork child: the parent's region is not ours (its mapping is shared: never write to it);
 * it is unmapped. */
void memtap_shm_forget(void);

/* A new image starts in the region: its number, and source 0 starts empty. */
void memtap_shm_begin_image(uint32_t image);

/* Source 0's buffer in the region (MEMTAP_SHM_SOURCE0_SIZE bytes), and what of it is whole
 * records: base (its bytes already in CHUNKs before the buffer's first) and len. */
uint8_t *memtap_shm_source0(void);
void memtap_shm_source0_publish(uint64_t base, uint64_t len);

/* Puts an item of kind (MEMTAP_ITEM_*) whose payload is a[0..na) then b[0..nb) into the
 * ring, waiting while it is full. Returns 0, or -1 when the collector has gone (or has not
 * come round for MEMTAP_SHM_STALE_NS while the ring was full). The caller serialises. */
int memtap_shm_put(uint8_t kind, const void *a, size_t na, const void *b, size_t nb);

/* A thread slot (its memtap_shm_slot_t first), or NULL when the region has no room left.
 * Free slots are reused. */
void *memtap_shm_slot_alloc(void);
void memtap_shm_slot_free(void *slot);

#endif
