/* Replay model: applies decoded events to a model of the process: live blocks, stack
 * nodes, allocation sites (one per distinct stack), modules, threads, images (exec), totals
 * and the heap peak with what each site held at that peak. Memory grows with live blocks
 * and distinct stacks, never with the number of events. */
#ifndef MEMTAP_READER_REPLAY_H
#define MEMTAP_READER_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "replay/addrmap.h"
#include "decode/batch.h"
#include "decode/decoder.h"
#include "memtap/format.h"
#include "memtap/hashtab.h"
#include "common/vec.h"

typedef struct {
    uint64_t frame;  /* instruction pointer (a return address) */
    uint32_t parent; /* global node id; 0 = root */
    uint32_t image;
} memtap_node_t;

typedef struct {
    uint32_t node; /* global id of the stack's innermost node */
    uint32_t image;
    uint64_t total_bytes, count;
    uint64_t live_bytes, live_blocks;
    uint64_t peak_snap;   /* live bytes as of the peak, valid when changed since it */
    uint64_t last_change; /* event sequence number of the last change */
    uint32_t kinds;       /* bit k: allocator kind k allocated here */
    uint64_t temporary;   /* allocations freed before any other allocation happened */
    uint64_t held_bytes, held_blocks; /* live when the main program finished (MAIN_DONE;
                                         after memtap_replay_finish) */
    int held_set;
} memtap_site_t;

/* A Python code object of one image: PY_CODE. */
typedef struct {
    uint32_t image;
    uint64_t id;
    uint32_t firstline;
    char *qualname, *filename;
} memtap_py_code_t;

typedef struct {
    char *path;
    uint64_t bias;
    uint8_t build_id[MEMTAP_MAX_BUILD_ID];
    size_t build_id_len;
    uint64_t lo, hi; /* addresses covered by its PT_LOAD segments */
    uint32_t image;
} memtap_module_t;

typedef struct {
    uint32_t image;
    uint64_t tid;
    char name[64];
} memtap_thread_t;

/* A process image: what one exec runs. Its LZ4 frames (more than one when an exec failed
 * and the image went on) share its address space, modules, stacks and threads. */
typedef struct {
    uint64_t pid, ppid, start_unix_ns;
    uint32_t flags;
    char *exe, *cmdline; /* cmdline: arguments joined by spaces */
    uint32_t first_thread; /* its threads are threads.v[first_thread..] */
    int ended;             /* 0 running, 1 exit, 2 exec */
    int main_done;         /* MAIN_DONE seen: the main program finished */
    uint64_t main_done_ms;
} memtap_image_t;

/* Stack nodes of different LZ4 frames of one image are the same node when their parent
 * and instruction pointer are: (image, parent, frame) -> global id. */
typedef struct {
    uint64_t frame;
    uint32_t image, parent, id; /* id 0: empty slot */
} memtap_node_key_t;
typedef MEMTAP_HASHTAB(memtap_node_key_t) memtap_node_keys_t;

/* (image, code object id) -> index in py_codes. */
typedef struct {
    uint64_t id;
    uint32_t image, index1; /* index + 1; 0: empty slot */
} memtap_py_code_slot_t;
typedef MEMTAP_HASHTAB(memtap_py_code_slot_t) memtap_py_code_index_t;

typedef struct {
    uint64_t addr, len;
    uint32_t site;
    uint32_t thread; /* the thread that mapped it (see memtap_block_t) */
    uint8_t leak_class; /* as memtap_block_t's */
} memtap_region_t;

/* What the leak scan at exit said of the process's last image (leak_classes.c). */
enum {
    MEMTAP_LEAK_SCAN_NONE = 0,     /* no scan in the capture: classes unknown */
    MEMTAP_LEAK_SCAN_DONE = 1,     /* every block live at the end has its class */
    MEMTAP_LEAK_SCAN_MISMATCH = 2, /* the scan's blocks are not the replay's: ignored */
};

typedef struct {
    uint64_t count, bytes, frees;
    uint64_t leaked_blocks, leaked_bytes; /* after memtap_replay_finish */
} memtap_kind_stats_t;


typedef struct {
    uint64_t allocations, frees, bytes_allocated, unknown_frees;
    uint64_t live_bytes, live_blocks;
    uint64_t peak_bytes, peak_blocks, peak_ms, peak_seq;
    uint64_t leaked_bytes, leaked_blocks; /* after memtap_replay_finish */
    uint64_t temporary;                   /* allocations freed at once (see site) */
    uint64_t held_bytes, held_blocks;     /* live at MAIN_DONE (see site), after finish */
    int main_done;                        /* some image wrote MAIN_DONE */
    uint64_t last_alloc_addr;             /* the latest allocation while not yet freed */
    uint32_t last_alloc_site;             /* (0: none); frees of others do not matter */
    uint64_t seq;                         /* events applied */
    uint64_t now_ms, max_rss;
    int complete;
    memtap_kind_stats_t kinds[MEMTAP_KIND_COUNT];
    MEMTAP_VEC(memtap_image_t) images;
    MEMTAP_VEC(memtap_module_t) modules;
    MEMTAP_VEC(memtap_node_t) nodes; /* index = global id; [0] is the root */
    MEMTAP_VEC(uint32_t) site_of_node;
    MEMTAP_VEC(memtap_site_t) sites; /* [0] unused */
    MEMTAP_VEC(memtap_thread_t) threads;
    MEMTAP_VEC(memtap_region_t) regions; /* live anonymous mappings */
    MEMTAP_VEC(memtap_py_code_t) py_codes;
    memtap_py_code_index_t py_code_index;
    memtap_addrmap_t live;
    /* the leak scan at exit: its state, its time, and while its classes are read, the live
     * blocks in address order (each a block of `live` or a region: leak_classes.c) */
    int leak_scan;
    uint64_t leak_scan_ms;
    void *leak_order;     /* (addr, where) of each, by address */
    uint8_t *leak_staged; /* their classes until the last LEAK_CLASSES */
    uint64_t leak_n;
    /* the ids the capture gives since its last header (each LZ4 frame numbers its own):
     * local node id -> global node, thread index -> thread */
    MEMTAP_VEC(uint32_t) local_nodes;
    MEMTAP_VEC(uint32_t) local_threads;
    uint64_t time_base;      /* ms of the whole run when the last header's LZ4 frame began */
    uint64_t first_start_ns; /* wall-clock start of the first header */
    uint64_t headers;        /* headers read: images, and images continued after a failed exec */
    memtap_node_keys_t node_keys;
    /* the timeline (timeline.h), NULL when none was asked for; its step is due after the
     * event that reaches tl_next or raises the heap above tl_best (both UINT64_MAX without) */
    struct memtap_timeline *tl;
    uint64_t tl_next, tl_best;
} memtap_replay_t;

/* Returns 0, or -1 when out of memory. With a timeline when memtap_replay_use_timeline()
 * asked for one (timeline.h). */
int memtap_replay_init(memtap_replay_t *r);
void memtap_replay_free(memtap_replay_t *r);

/* Applies one event. Returns 0, or -1 when out of memory. */
int memtap_replay_event(memtap_replay_t *r, const memtap_event_t *ev);

/* Applies a batch's events in order, as memtap_replay_event would. Returns 0, or -1 when
 * out of memory. */
int memtap_replay_batch(memtap_replay_t *r, const memtap_batch_t *b);

/* LEAK_SCAN: the blocks live now, in address order, must be the scan's (count and address
 * hash); then LEAK_CLASSES give each its class. Returns 0, or -1 when out of memory. */
int memtap_replay_leak_scan(memtap_replay_t *r, const memtap_event_t *ev);
void memtap_replay_leak_classes(memtap_replay_t *r, const memtap_event_t *ev);

/* After the last event: computes what leaked (blocks live at the end). The timeline, if
 * any, is finished by memtap_timeline_finish, which may fail. */
void memtap_replay_finish(memtap_replay_t *r);

/* Bytes the site held when the heap peaked. */
uint64_t memtap_site_peak_bytes(const memtap_replay_t *r, const memtap_site_t *s);

/* The Python code object id of image, or NULL when the capture never defined it. */
const memtap_py_code_t *memtap_replay_py_code(const memtap_replay_t *r, uint32_t image,
                                              uint64_t id);

/* The module that maps ip in image, or NULL (newest definition wins). */
const memtap_module_t *memtap_replay_module(const memtap_replay_t *r, uint32_t image, uint64_t ip);

#endif
