/* Module map snapshots with dl_iterate_phdr, encoded into a scratch buffer of their own and
 * appended to source 0's records. May call output/ (record, stream) and lifecycle.c. */
#include "core/modules.h"

#include <elf.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/lifecycle.h"
#include "memtap/format.h"
#include "output/record.h"
#include "output/stream.h"

static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER; /* guards modules_scratch */
static memtap_enc_t modules_scratch; /* grows, never shrinks: a map is written again often */

typedef struct {
    memtap_enc_t *enc;
    int failed;
    char exe[4096];
} walk_t;

static int grow(memtap_enc_t *e) {
    size_t cap = e->cap ? e->cap * 2 : 64 * 1024;
    uint8_t *p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    if (e->buf) {
        memcpy(p, e->buf, e->len);
        munmap(e->buf, e->cap);
    }
    e->buf = p;
    e->cap = cap;
    return 0;
}

/* Finds the GNU build-id note in the object's PT_NOTE segments. */
static size_t build_id(const struct dl_phdr_info *info, const uint8_t **id) {
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
        const uint8_t *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            size_t name_sz = (nh->n_namesz + 3) & ~3u, desc_sz = (nh->n_descsz + 3) & ~3u;
            const uint8_t *name = p + sizeof *nh, *desc = name + name_sz;
            if (desc + desc_sz > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && !memcmp(name, "GNU", 4)) {
                *id = desc;
                return nh->n_descsz;
            }
            p = desc + desc_sz;
        }
    }
    return 0;
}

static int add_module(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    walk_t *w = data;
    memtap_segment_t segs[MEMTAP_MAX_SEGMENTS];
    size_t nseg = 0;
    for (int i = 0; i < info->dlpi_phnum && nseg < MEMTAP_MAX_SEGMENTS; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD)
            segs[nseg++] = (memtap_segment_t){ph->p_vaddr, ph->p_memsz, ph->p_flags};
    }
    if (nseg == 0)
        return 0;
    const char *path = info->dlpi_name;
    if (!path || !*path)
        path = w->exe; /* the main program has no name in the link map */
    const uint8_t *id = NULL;
    size_t id_len = build_id(info, &id);
    while (memtap_enc_module(w->enc, path, info->dlpi_addr, id, id_len, segs, nseg) < 0) {
        if (grow(w->enc) < 0) {
            w->failed = 1;
            return 1;
        }
    }
    return 0;
}

/* Encodes MODULES_RESET followed by one MODULE record per loaded object into scratch, whose
 * buffer comes from mmap and grows as needed. Returns 0, or -1 when memory runs out. */
static int encode_modules(memtap_enc_t *scratch) {
    static walk_t w; /* 4 KiB: kept off the stack of the allocating thread; modules_lock */
    scratch->len = 0;
    if (scratch->cap < MEMTAP_ENC_FIXED_MAX && grow(scratch) < 0)
        return -1;
    memtap_enc_simple(scratch, MEMTAP_REC_MODULES_RESET);
    w.enc = scratch;
    w.failed = 0;
    ssize_t n = readlink("/proc/self/exe", w.exe, sizeof w.exe - 1);
    w.exe[n > 0 ? n : 0] = '\0';
    dl_iterate_phdr(add_module, &w);
    return w.failed ? -1 : 0;
}

void memtap_modules_write(int take_record_lock) {
    pthread_mutex_lock(&modules_lock);
    int rc = encode_modules(&modules_scratch);
    if (take_record_lock)
        memtap_lock(&memtap_stream_lock);
    if (rc < 0)
        memtap_disable("cannot list the loaded modules", ENOMEM);
    else if (memtap_tracking())
        memtap_stream_append(modules_scratch.buf, modules_scratch.len);
    if (take_record_lock)
        memtap_stream_unlock();
    pthread_mutex_unlock(&modules_lock);
}

void memtap_track_modules_changed(void) { memtap_modules_write(1); }

void memtap_modules_lock(void) { pthread_mutex_lock(&modules_lock); }
void memtap_modules_unlock(void) { pthread_mutex_unlock(&modules_lock); }
void memtap_modules_after_fork(void) { pthread_mutex_init(&modules_lock, NULL); }
