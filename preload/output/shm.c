/* The shared region of collector mode: creation, hello, thread slots, the ring (shm.h). */
#include "output/shm.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/lock.h"
#include "base/log.h"

#define HELLO_TIMEOUT_MS 10000

memtap_shm_control_t *memtap_shm;
static uint8_t *region;

static memtap_lock_t slots_lock = MEMTAP_LOCK_INIT;
static void *free_slots; /* a list through the slots' first word; slots_lock */

int memtap_shm_wanted(void) {
    const char *name = getenv(MEMTAP_ENV_COLLECTOR);
    return name && *name;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sends the hello with the region's descriptor and waits for the answer. */
static int hello(int memfd, int *err) {
    const char *name = getenv(MEMTAP_ENV_COLLECTOR);
    size_t len = strlen(name);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (len + 1 > sizeof sa.sun_path) {
        *err = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa.sun_path + 1, name, len);
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0) {
        *err = errno;
        return -1;
    }
    int rc = -1;
    memtap_hello_t h = {.magic = MEMTAP_HELLO_MAGIC, .version = MEMTAP_SHM_VERSION,
                        .size = MEMTAP_SHM_SIZE};
    struct iovec iov = {.iov_base = &h, .iov_len = sizeof h};
    union {
        struct cmsghdr c;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                         .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &memfd, sizeof memfd);
    char answer = 0;
    struct pollfd pf = {.fd = s, .events = POLLIN};
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
    if (connect(s, (struct sockaddr *)&sa, salen) != 0 || sendmsg(s, &msg, MSG_NOSIGNAL) < 0)
        *err = errno;
    else if (poll(&pf, 1, HELLO_TIMEOUT_MS) != 1 || recv(s, &answer, 1, 0) != 1)
        *err = errno ? errno : ETIMEDOUT;
    else if (answer != 1)
        *err = EPROTO;
    else
        rc = 0;
    close(s);
    return rc;
}

int memtap_shm_connect(uint32_t slot_size, uint32_t data_offset) {
    int saved = errno, err = 0;
    int fd = memfd_create("memtap", MFD_CLOEXEC);
    void *p = MAP_FAILED;
    if (fd < 0 || ftruncate(fd, (off_t)MEMTAP_SHM_SIZE) != 0 ||
        (p = mmap(NULL, MEMTAP_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) ==
            MAP_FAILED) {
        err = errno;
        memtap_log("cannot make the region shared with memtap run", NULL, err);
        if (fd >= 0)
            close(fd);
        errno = saved;
        return -1;
    }
    memtap_shm_control_t *c = p;
    c->magic = MEMTAP_SHM_MAGIC;
    c->version = MEMTAP_SHM_VERSION;
    c->pid = (uint32_t)getpid();
    c->size = MEMTAP_SHM_SIZE;
    c->slot_size = slot_size;
    c->slot_data_offset = data_offset;
    c->collector_beat_ns = now_ns();
    int rc = hello(fd, &err);
    close(fd);
    if (rc != 0) {
        memtap_log("cannot reach memtap run's collector", getenv(MEMTAP_ENV_COLLECTOR), err);
        munmap(p, MEMTAP_SHM_SIZE);
        errno = saved;
        return -1;
    }
    region = p;
    memtap_shm = c;
    free_slots = NULL;
    memtap_lock_reset(&slots_lock);
    errno = saved;
    return 0;
}

void memtap_shm_forget(void) {
    if (region)
        munmap(region, MEMTAP_SHM_SIZE);
    region = NULL;
    memtap_shm = NULL;
    free_slots = NULL;
    memtap_lock_reset(&slots_lock);
}

void memtap_shm_begin_image(uint32_t image) {
    memtap_shm->source0_base = 0;
    __atomic_store_n(&memtap_shm->source0_len, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&memtap_shm->image, image, __ATOMIC_RELEASE);
}

uint8_t *memtap_shm_source0(void) { return region + MEMTAP_SHM_SOURCE0_OFFSET; }

void memtap_shm_source0_publish(uint64_t base, uint64_t len) {
    /* len first: a collector that reads a new base with the old len takes nothing twice
     * (see take_unflushed in reader/collect/region.c) */
    if (base == memtap_shm->source0_base) {
        __atomic_store_n(&memtap_shm->source0_len, len, __ATOMIC_RELEASE);
        return;
    }
    __atomic_store_n(&memtap_shm->source0_len, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&memtap_shm->source0_base, base, __ATOMIC_RELEASE);
    __atomic_store_n(&memtap_shm->source0_len, len, __ATOMIC_RELEASE);
}

/* Waits until the ring has n bytes of room. -1 when the collector is gone. */
static int wait_for_room(uint64_t head, uint64_t n) {
    uint64_t since = 0;
    for (unsigned i = 0;; i++) {
        uint64_t tail = __atomic_load_n(&memtap_shm->ring_tail, __ATOMIC_ACQUIRE);
        if (MEMTAP_SHM_RING_SIZE - (head - tail) >= n)
            return 0;
        if (__atomic_load_n(&memtap_shm->collector_gone, __ATOMIC_ACQUIRE))
            return -1;
        uint64_t now = now_ns();
        if (!since)
            since = now;
        if (now - since >= MEMTAP_SHM_STALE_NS &&
            now - __atomic_load_n(&memtap_shm->collector_beat_ns, __ATOMIC_ACQUIRE) >=
                MEMTAP_SHM_STALE_NS)
            return -1;
        struct timespec ts = {0, i < 10 ? 20000 : 200000};
        nanosleep(&ts, NULL);
    }
}

static void ring_write(uint64_t at, const void *p, size_t n) {
    uint8_t *ring = region + MEMTAP_SHM_RING_OFFSET;
    size_t off = (size_t)(at & (MEMTAP_SHM_RING_SIZE - 1));
    size_t first = MEMTAP_SHM_RING_SIZE - off;
    first = first < n ? first : n;
    memcpy(ring + off, p, first);
    memcpy(ring, (const uint8_t *)p + first, n - first);
}

int memtap_shm_put(uint8_t kind, const void *a, size_t na, const void *b, size_t nb) {
    uint64_t n = na + nb, head = memtap_shm->ring_head;
    if (n > MEMTAP_ITEM_MAX || __atomic_load_n(&memtap_shm->collector_gone, __ATOMIC_RELAXED))
        return -1;
    if (wait_for_room(head, MEMTAP_ITEM_HEADER_LEN + n) < 0)
        return -1;
    uint8_t h[MEMTAP_ITEM_HEADER_LEN] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16),
                                         (uint8_t)(n >> 24), kind};
    ring_write(head, h, sizeof h);
    ring_write(head + sizeof h, a, na);
    ring_write(head + sizeof h + na, b, nb);
    __atomic_store_n(&memtap_shm->ring_head, head + sizeof h + n, __ATOMIC_RELEASE);
    return 0;
}

void *memtap_shm_slot_alloc(void) {
    memtap_lock(&slots_lock);
    void *slot = free_slots;
    if (slot) {
        memcpy(&free_slots, (uint8_t *)slot + sizeof(memtap_shm_slot_t), sizeof free_slots);
    } else {
        uint64_t size = memtap_shm->slot_size, used = memtap_shm->slots_used;
        if ((used + 1) * size <= MEMTAP_SHM_LIVE_OFFSET - MEMTAP_SHM_SLOTS_OFFSET) {
            slot = region + MEMTAP_SHM_SLOTS_OFFSET + used * size;
            __atomic_store_n(&memtap_shm->slots_used, (uint32_t)(used + 1), __ATOMIC_RELEASE);
        }
    }
    memtap_unlock(&slots_lock);
    return slot;
}

void memtap_shm_slot_free(void *slot) {
    memtap_shm_slot_t *s = slot;
    __atomic_store_n(&s->image, 0, __ATOMIC_RELEASE); /* nothing in it is to be taken */
    memtap_lock(&slots_lock);
    memcpy((uint8_t *)slot + sizeof(memtap_shm_slot_t), &free_slots, sizeof free_slots);
    free_slots = slot;
    memtap_unlock(&slots_lock);
}
