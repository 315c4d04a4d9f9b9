/* The symbolizer's warm-up: a thread on idle cycles reads the modules' DWARF while the
 * capture is still being read (symbolize.h, memtap_symbols_warm_up). */
#include <elfutils/libdw.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbolize/modules.h"
#include "symbolize/symbolize.h"

/* The warm-up (symbolize.h). The thread and the symbolizer never wait for each other: the
 * thread runs on idle cycles only, so on a busy machine it may get none for seconds. Each
 * module's state says who has it; the list goes to whichever of the two lets go last. */
enum { WARM_WAITING, WARM_OPENING, WARM_OPENED, WARM_DROPPED };
#define WARM_PATIENCE_MS 100

typedef struct {
    char *path;
    uint8_t build_id[MEMTAP_MAX_BUILD_ID];
    size_t build_id_len;
    Dwfl *dwfl; /* the thread's, until it sets WARM_OPENED */
    Dwfl_Module *mod;
    atomic_int state;
} warm_module_t;

typedef struct {
    warm_module_t *v;
    size_t n;
    atomic_int stop;
    atomic_int holders; /* the thread and the symbolizer, while each uses the list */
} warm_list_t;

static warm_list_t *warm; /* started at most once a process */
static int warm_started;

static void warm_list_free(warm_list_t *w) {
    for (size_t i = 0; i < w->n; i++)
        free(w->v[i].path);
    free(w->v);
    free(w);
}

static void *warm_up(void *arg) {
    warm_list_t *w = arg;
    struct sched_param none = {0};
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &none);
    for (size_t i = 0; i < w->n && !atomic_load(&w->stop); i++) {
        warm_module_t *m = &w->v[i];
        int expected = WARM_WAITING;
        if (!atomic_compare_exchange_strong(&m->state, &expected, WARM_OPENING))
            continue; /* the symbolizer dropped it */
        Dwfl *dwfl;
        Dwfl_Module *mod;
        memtap_open_dwfl(m->path, m->build_id, m->build_id_len, &dwfl, &mod);
        if (mod) { /* what takes the time: the debug sections, decompressed */
            Dwarf_Addr bias;
            dwfl_module_getdwarf(mod, &bias);
            dwfl_module_getsymtab(mod);
        }
        m->dwfl = dwfl;
        m->mod = mod;
        expected = WARM_OPENING;
        if (!atomic_compare_exchange_strong(&m->state, &expected, WARM_OPENED) && dwfl)
            dwfl_end(dwfl); /* dropped while it was being opened */
    }
    if (atomic_fetch_sub(&w->holders, 1) == 1)
        warm_list_free(w);
    return NULL;
}

void memtap_symbols_warm_up(const memtap_replay_t *r) {
    if (warm_started || r->modules.n == 0)
        return;
    warm_started = 1;
    warm_list_t *w = calloc(1, sizeof *w);
    if (!w || !(w->v = calloc(r->modules.n, sizeof *w->v))) {
        free(w);
        return;
    }
    for (size_t i = 0; i < r->modules.n; i++) {
        const memtap_module_t *m = &r->modules.v[i];
        warm_module_t *x = &w->v[w->n];
        int listed = 0;
        for (size_t j = 0; j < w->n && !listed; j++)
            listed = memtap_same_module(m, w->v[j].path, w->v[j].build_id, w->v[j].build_id_len);
        if (listed || m->path[0] != '/' || !(x->path = strdup(m->path)))
            continue;
        memcpy(x->build_id, m->build_id, m->build_id_len);
        x->build_id_len = m->build_id_len;
        atomic_init(&x->state, WARM_WAITING);
        w->n++;
    }
    atomic_init(&w->stop, 0);
    atomic_init(&w->holders, 2);
    pthread_t thread;
    if (pthread_create(&thread, NULL, warm_up, w) != 0) {
        warm_list_free(w);
        return;
    }
    pthread_detach(thread);
    warm = w;
}

void memtap_symbols_take_warm(const memtap_replay_t *r, memtap_dwfl_entry_t **v, size_t *n,
                              size_t *cap) {
    warm_list_t *w = warm;
    if (!w)
        return;
    warm = NULL;
    atomic_store(&w->stop, 1);
    for (size_t i = 0; i < w->n; i++) {
        warm_module_t *x = &w->v[i];
        int st = WARM_WAITING;
        if (atomic_compare_exchange_strong(&x->state, &st, WARM_DROPPED))
            continue;
        /* being opened: it is most likely needed (the program's own modules come first),
         * and with the reading done the thread has a core; a starved one is not awaited */
        for (int waited = 0; st == WARM_OPENING && waited < WARM_PATIENCE_MS * 2; waited++) {
            usleep(500);
            st = atomic_load(&x->state);
        }
        if (st == WARM_OPENING && atomic_compare_exchange_strong(&x->state, &st, WARM_DROPPED))
            continue;
        if (st != WARM_OPENED) /* (dropped already) */
            continue;
        const memtap_module_t *m = NULL;
        for (size_t j = 0; j < r->modules.n && !m; j++)
            if (memtap_same_module(&r->modules.v[j], x->path, x->build_id, x->build_id_len))
                m = &r->modules.v[j];
        if (m && memtap_symbolize_reserve((void **)v, cap, *n + 1, sizeof **v) == 0)
            (*v)[(*n)++] = (memtap_dwfl_entry_t){m, x->dwfl, x->mod};
        else if (x->dwfl)
            dwfl_end(x->dwfl);
    }
    if (atomic_fetch_sub(&w->holders, 1) == 1)
        warm_list_free(w);
}
