/* The raw key of a thread's Python stack (memtap_pystack_key, for the memo of stacks):
 * equal keys in one epoch mean equal frames, whatever the version's layout; chains the
 * memo cannot vouch for have no key. */
#include "pyfake.h"

#include "stack/memo.h"

#define CHAINS 400

typedef struct {
    int n;
    uint64_t key[64], hash;
    uint64_t frames[32];
    int depth;
} seen_t;

static seen_t seen[CHAINS];

/* Random chains of 1 to 8 frames over 3 code objects, 3 offsets each, with entry flags
 * and (3.12+) frames of the C stack between them. */
static char *random_chain(char **codes) {
    char *f = NULL;
    int frames = 1 + rand() % 8;
    for (int i = 0; i < frames; i++) {
        if (fl->owner_cstack >= 0 && rand() % 3 == 0)
            f = fake_cstack(f);
        f = fake_frame(codes[rand() % 3], 2 * (rand() % 3), f, rand() % 2);
    }
    return f;
}

static void keys_decide_frames(int minor) {
    fake_python(minor);
    char *codes[3] = {fake_code("a", "k.py", 1), fake_code("b", "k.py", 10),
                      fake_code("c", "k.py", 20)};
    srand((unsigned)minor);
    int equal_keys = 0;
    for (int i = 0; i < CHAINS; i++) {
        set_current(random_chain(codes));
        cr_assert(memtap_pystack_depth());
        seen_t *s = &seen[i];
        uint32_t epoch;
        s->hash = MEMTAP_MEMO_SEED;
        s->n = memtap_pystack_key(s->key, 64, &s->hash, &epoch);
        cr_assert_gt(s->n, 0);
        cr_assert_eq(epoch, memtap_pycode_epoch());
        s->depth = memtap_pystack_frames(s->frames, 32); /* the key left the frame to read */
        cr_assert_gt(s->depth, 0);
        cr_assert(memtap_pystack_was_whole());
        for (int j = 0; j < i; j++) {
            int same_key = seen[j].n == s->n && !memcmp(seen[j].key, s->key, 8 * (size_t)s->n);
            int same_frames = seen[j].depth == s->depth &&
                              !memcmp(seen[j].frames, s->frames, 8 * (size_t)s->depth);
            if (same_key) {
                equal_keys++;
                cr_assert(same_frames, "3.%d: chains %d and %d: one key, other frames", minor,
                          j, i);
                cr_assert_eq(seen[j].hash, s->hash);
            }
        }
    }
    cr_assert_gt(equal_keys, 0, "some chains met again");
}

Test(pykey, keys_decide_frames_3_9, .timeout = 30) { keys_decide_frames(9); }
Test(pykey, keys_decide_frames_3_10, .timeout = 30) { keys_decide_frames(10); }
Test(pykey, keys_decide_frames_3_11, .timeout = 30) { keys_decide_frames(11); }
Test(pykey, keys_decide_frames_3_12, .timeout = 30) { keys_decide_frames(12); }
Test(pykey, keys_decide_frames_3_13, .timeout = 30) { keys_decide_frames(13); }

Test(pykey, an_outer_frame_that_moved_changes_the_key, .timeout = 10) {
    fake_python(12);
    char *mod = fake_code("<module>", "m.py", 1), *f = fake_code("f", "m.py", 10);
    char *outer = fake_frame(mod, 2, fake_cstack(NULL), 0);
    set_current(fake_frame(f, 4, outer, 0));
    uint64_t a[16], b[16], ha = MEMTAP_MEMO_SEED, hb = MEMTAP_MEMO_SEED;
    uint32_t epoch;
    cr_assert(memtap_pystack_depth());
    int n = memtap_pystack_key(a, 16, &ha, &epoch);
    cr_assert_eq(n, 6, "two frames and the C stack's: 2 words each");
    put_ptr(outer, fl->fr_instr, mod + fl->co_code + 6); /* <module> moved on a line */
    cr_assert(memtap_pystack_depth());
    cr_assert_eq(memtap_pystack_key(b, 16, &hb, &epoch), 6);
    cr_assert(memcmp(a, b, sizeof(uint64_t) * 6) != 0);
    cr_assert_neq(ha, hb);
}

Test(pykey, chains_without_a_key, .timeout = 10) {
    fake_python(13);
    uint64_t key[8], h = MEMTAP_MEMO_SEED;
    uint32_t epoch;
    set_current(NULL);
    cr_assert_eq(memtap_pystack_depth(), 0);
    cr_assert_eq(memtap_pystack_key(key, 8, &h, &epoch), -1, "no Python running");
    /* a frame whose code is not a code object: its object could die and come back */
    char *code = fake_code("f", "m.py", 1), *other = fake_code("g", "m.py", 1);
    put_ptr(other, 8, fake_other_type);
    set_current(fake_frame(code, 0, fake_frame(other, 0, NULL, 1), 0));
    cr_assert(memtap_pystack_depth());
    cr_assert_eq(memtap_pystack_key(key, 8, &h, &epoch), -1);
    /* four frames do not fit in 6 words */
    char *f = NULL;
    for (int i = 0; i < 4; i++)
        f = fake_frame(code, 0, f, 0);
    set_current(f);
    cr_assert(memtap_pystack_depth());
    cr_assert_eq(memtap_pystack_key(key, 6, &h, &epoch), -1);
    cr_assert_eq(memtap_pystack_key(key, 8, &h, &epoch), 8);
}
