/* The fast unwinder against libunwind: the same return addresses, frame for frame, from
 * stacks of many shapes (plain recursion, alloca frames addressed through RBP, large
 * frames, a thread), and a clean refusal where it cannot go (a signal frame). */
#define UNW_LOCAL_ONLY
#include <alloca.h>
#include <criterion/criterion.h>
#include <libunwind.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "unwind/fastunwind.h"

#define MAX 256

typedef struct {
    uint64_t fast[MAX], slow[MAX];
    int nfast, nslow, same_outer;
} sample_t;

/* Both unwinds from the same function: only their first entries (the two call sites in
 * here) may differ. */
static int probe_max = MAX; /* frames asked of both */

__attribute__((noinline)) static void probe(sample_t *s) {
    s->nfast = memtap_fast_unwind(s->fast, probe_max, 0, 0, &s->same_outer, 0);
    s->nslow = unw_backtrace((void **)s->slow, probe_max);
    __asm__ volatile("" ::: "memory");
}

static void check(const sample_t *s) {
    cr_assert(s->nfast > 1, "fast unwinder refused or found nothing (%d)", s->nfast);
    cr_assert_eq(s->nfast, s->nslow, "fast %d frames, libunwind %d", s->nfast, s->nslow);
    for (int i = 1; i < s->nfast; i++)
        cr_assert_eq(s->fast[i], s->slow[i], "frame %d: fast %#lx, libunwind %#lx", i,
                     (unsigned long)s->fast[i], (unsigned long)s->slow[i]);
}

static volatile int sink;

__attribute__((noinline)) static void plain(int depth, sample_t *s) {
    if (depth == 0)
        probe(s);
    else
        plain(depth - 1, s);
    sink++;
}

/* alloca: the compiler addresses this frame through RBP (CFA = RBP + 16) */
__attribute__((noinline)) static void with_alloca(int depth, size_t n, sample_t *s) {
    volatile char *p = alloca(n);
    p[0] = (char)depth;
    if (depth == 0)
        probe(s);
    else
        with_alloca(depth - 1, n + 24, s);
    sink += p[0];
}

__attribute__((noinline)) static void big_frame(int depth, sample_t *s) {
    volatile char buf[70000];
    buf[depth] = 1;
    if (depth == 0)
        probe(s);
    else
        big_frame(depth - 1, s);
    sink += buf[depth];
}

__attribute__((noinline)) static void mixed(int depth, sample_t *s) {
    switch (depth % 3) {
    case 0: depth ? mixed(depth - 1, s) : probe(s); break;
    case 1: with_alloca(1, 40, s); break;
    default: big_frame(1, s); break;
    }
    sink++;
}

Test(fastunwind, plain_recursion_matches_libunwind, .timeout = 30) {
    static sample_t s;
    for (int d = 0; d < 120; d += 7) {
        plain(d, &s);
        check(&s);
    }
}

/* The count of unchanged outermost frames is right: they are the previous walk's last. */
Test(fastunwind, unchanged_outer_frames_are_the_previous_ones, .timeout = 30) {
    static sample_t walks[2];
    int checked = 0;
    for (int i = 0; i < 20; i++) {
        sample_t *now = &walks[i % 2], *before = &walks[(i + 1) % 2];
        plain(30 + (i * 7) % 11, now); /* one call site, depths that vary */
        check(now);
        if (i == 0)
            continue;
        cr_assert(now->same_outer <= now->nfast && now->same_outer <= before->nfast);
        for (int k = 1; k <= now->same_outer; k++)
            cr_assert_eq(now->fast[now->nfast - k], before->fast[before->nfast - k], "outer frame %d", k);
        checked += now->same_outer > 0;
    }
    cr_assert(checked > 0, "no walk reused the previous one");
}

/* Stacks deeper than the frames asked for: a kept walk that was cut short must not pass
 * for a whole one when a later walk reuses all of it. */
Test(fastunwind, walks_cut_at_max_stay_exact, .timeout = 30) {
    static sample_t s;
    static const int depths[] = {50, 50, 40, 45, 30, 50, 12, 35};
    probe_max = 20;
    for (size_t i = 0; i < sizeof depths / sizeof depths[0]; i++) {
        plain(depths[i], &s);
        check(&s);
    }
    probe_max = MAX;
}

/* after walks cut at max, the frames said unchanged are the previous result's last ones */
Test(fastunwind, unchanged_outer_frames_after_cut_walks, .timeout = 30) {
    static sample_t walks[2];
    probe_max = 20;
    unsigned r = 12345;
    for (size_t i = 0; i < 400; i++) {
        sample_t *now = &walks[i % 2], *before = &walks[(i + 1) % 2];
        r = r * 1103515245u + 12345u;
        plain(5 + (int)((r >> 16) % 56), now); /* one call site, depths 5 to 60 */
        check(now);
        for (int k = 1; i > 0 && k <= now->same_outer; k++)
            cr_assert_eq(now->fast[now->nfast - k], before->fast[before->nfast - k],
                         "walk %zu, outer frame %d", i, k);
    }
    probe_max = MAX;
}

/* Depths that jump between 1 and 200 under the same outer frames: a walk keeps few kept
 * frames and many fresh ones, or the other way round (the two ways a kept walk is put
 * together), and the outer frames said unchanged are the previous result's. */
Test(fastunwind, depths_that_jump_match_libunwind, .timeout = 30) {
    static sample_t walks[2];
    unsigned r = 777;
    for (int i = 0; i < 300; i++) {
        sample_t *now = &walks[i % 2], *before = &walks[(i + 1) % 2];
        r = r * 1103515245u + 12345u;
        plain(i % 3 == 0 ? 1 + (int)((r >> 16) % 200) : 1 + (int)((r >> 16) % 8), now);
        check(now);
        for (int k = 1; i > 0 && k <= now->same_outer; k++)
            cr_assert_eq(now->fast[now->nfast - k], before->fast[before->nfast - k],
                         "walk %d, outer frame %d", i, k);
    }
}

/* Twin functions with equal frames: walks through a and b differ only in the return
 * addresses, at the depths where the path turns (turns[]), while every frame sits where it
 * sat and holds the same registers: the innermost frame matches the kept walk's. */
static unsigned char turns[64];
static void path(int depth, sample_t *s);
/* As the hooks do: the walk starts at the caller's frame, noted on entry (the one
 * libunwind gives second). */
static int lazy_walks; /* probe_noted asks for lazy walks */
__attribute__((noinline, optimize("no-omit-frame-pointer"))) static void probe_noted(sample_t *s) {
    memtap_note_entry(__builtin_frame_address(0));
    s->nfast = memtap_fast_unwind(s->fast, probe_max, 0, 0, &s->same_outer, lazy_walks);
    memtap_clear_entry();
    s->nslow = unw_backtrace((void **)s->slow, probe_max);
    cr_assert(s->nslow > 1);
    memmove(s->slow, s->slow + 1, (size_t)--s->nslow * sizeof s->slow[0]);
    __asm__ volatile("" ::: "memory");
}
/* RBP is the same in every walk here (the harness's own RBP changes from walk to walk) */
__attribute__((noinline, optimize("omit-frame-pointer"))) static void probe_with_fixed_rbp(sample_t *s) {
    __asm__ volatile("mov $0x1234, %%rbp" ::: "rbp");
    probe_noted(s);
    sink++;
}
__attribute__((noinline)) static void path_a(int depth, sample_t *s) {
    path(depth, s);
    sink++;
}
__attribute__((noinline)) static void path_b(int depth, sample_t *s) {
    path(depth, s);
    sink += 2;
}
__attribute__((noinline)) static void path(int depth, sample_t *s) {
    if (depth == 0 && turns[0]) { /* two call sites: the frame out of the first differs */
        probe_with_fixed_rbp(s);
        __asm__ volatile("nop");
    } else if (depth == 0) {
        probe_with_fixed_rbp(s);
        __asm__ volatile("nop; nop");
    } else if (turns[depth])
        path_a(depth - 1, s);
    else
        path_b(depth - 1, s);
    sink++;
}

/* The kept walk's frames all match by place; one return address far out differs. */
Test(fastunwind, paths_that_differ_in_one_outer_frame_match_libunwind, .timeout = 30) {
    static sample_t walks[2];
    unsigned long r = 88172645463325252ul;
    for (int i = 0; i < 600; i++) {
        sample_t *now = &walks[i % 2], *before = &walks[(i + 1) % 2];
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        turns[r % 41] ^= 1; /* one turn changes, at any depth */
        path(40, now);
        check(now);
        for (int k = 1; i > 0 && k <= now->same_outer; k++)
            cr_assert_eq(now->fast[now->nfast - k], before->fast[before->nfast - k],
                         "walk %d, outer frame %d", i, k);
    }
}

/* Lazy walks leave out the outermost frames the previous result ended with (the caller has
 * them): what they write, completed with those, is libunwind's answer; when nothing
 * changed, nothing past the innermost frames is written. The walks run from one sample and
 * a fixed RBP, so that a path walked again is the same stack, slot for slot. */
__attribute__((noinline, optimize("omit-frame-pointer"))) static void
path_from_fixed_rbp(sample_t *s) {
    __asm__ volatile("mov $0x4321, %%rbp" ::: "rbp");
    path(40, s);
    sink++;
}

/* With a frame pointer, this loop's RBP stays put: the walks' outer frames stay the same. */
__attribute__((noinline, optimize("no-omit-frame-pointer"))) static void lazy_walk_loop(
    int *skipped, int *repeats_skipped) {
    static sample_t now, before;
    const uint64_t poison = 0x5eed5eed5eed5eedull;
    unsigned long r = 2463534242ul;
    for (int i = 0; i < 600; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        int repeat = i % 3 == 2; /* the same path again */
        if (!repeat)
            turns[r % 41] ^= 1;
        for (int k = 0; k < MAX; k++)
            now.fast[k] = poison;
        path_from_fixed_rbp(&now);
        int left_out = 0;
        while (left_out < now.same_outer && now.fast[now.nfast - 1 - left_out] == poison)
            left_out++;
        *skipped += left_out > 0;
        *repeats_skipped += repeat && left_out == now.same_outer && left_out >= now.nfast - 1;
        cr_assert(i > 0 || left_out == 0, "the first walk has no previous one");
        for (int k = 1; k <= now.same_outer; k++) /* as the caller completes it */
            now.fast[now.nfast - k] = before.fast[before.nfast - k];
        check(&now);
        before = now;
    }
}

Test(fastunwind, lazy_walks_leave_out_only_frames_the_last_walk_ended_with, .timeout = 30) {
    int skipped = 0, repeats_skipped = 0;
    lazy_walks = 1;
    lazy_walk_loop(&skipped, &repeats_skipped);
    lazy_walks = 0;
    cr_assert(repeats_skipped == 200, "a repeated path wrote its kept frames (%d of 200 not)",
              repeats_skipped);
    cr_assert(skipped == repeats_skipped, "a changed path left frames out (%d walks, %d repeated)",
              skipped, repeats_skipped);
}

/* A thread whose walks take little from the kept one (every turn drawn afresh, in a thread of
 * its own: few frames outside them) looks for it in one walk of 8 only; when its walks
 * repeat again, it soon looks every time once more and takes every frame from it. Every walk
 * is libunwind's either way. Frame pointers and a fixed RBP, as in lazy_walk_loop. */
__attribute__((noinline, optimize("no-omit-frame-pointer"))) static void fresh_then_repeated(
    int *repeats_taken) {
    static sample_t s;
    unsigned long r = 88172645463325252ul;
    for (int i = 0; i < 400; i++) {
        int repeat = i >= 200;
        for (int d = 0; !repeat && d < 41; d++) {
            r ^= r << 13, r ^= r >> 7, r ^= r << 17;
            turns[d] = (unsigned char)(r & 1);
        }
        path_from_fixed_rbp(&s);
        check(&s);
        if (i >= 232)
            *repeats_taken += s.same_outer >= s.nfast - 1;
    }
}

static int repeats_taken;
static void *fresh_then_repeated_thread(void *arg) {
    (void)arg;
    fresh_then_repeated(&repeats_taken);
    return NULL;
}

Test(fastunwind, walks_that_repeat_again_take_the_kept_one_again, .timeout = 30) {
    pthread_t t;
    pthread_create(&t, NULL, fresh_then_repeated_thread, NULL);
    pthread_join(t, NULL);
    cr_assert_eq(repeats_taken, 168, "from the 33rd repeat on, %d of 168 took every frame",
                 repeats_taken);
}

/* A frame addressed through RBP (alloca) at two heights, its alloca making up for the
 * difference: the frames inside it sit where they sat, but RBP, and so every frame out
 * of it, moved. A frame whose step needs RBP may match only with the same RBP. */
__attribute__((noinline)) static void alloca_frame(size_t n, sample_t *s) {
    volatile char *p = alloca(n);
    p[0] = 1;
    plain(3, s);
    sink += p[0];
}
__attribute__((noinline)) static void low_caller(size_t n, sample_t *s) {
    volatile char pad[256];
    pad[0] = 1;
    alloca_frame(n, s);
    sink += pad[0];
}
__attribute__((noinline)) static void high_caller(size_t n, sample_t *s) {
    alloca_frame(n + 256, s);
    sink++;
}

Test(fastunwind, a_moved_rbp_frame_under_unmoved_frames_matches_libunwind, .timeout = 30) {
    static sample_t s;
    for (int i = 0; i < 40; i++) {
        if (i % 2)
            low_caller(64, &s);
        else
            high_caller(64, &s);
        check(&s);
    }
}

Test(fastunwind, frames_addressed_through_rbp_match_libunwind, .timeout = 30) {
    static sample_t s;
    with_alloca(20, 16, &s);
    check(&s);
}

Test(fastunwind, large_frames_match_libunwind, .timeout = 30) {
    static sample_t s;
    big_frame(5, &s);
    check(&s);
    mixed(9, &s);
    check(&s);
}

__attribute__((noinline)) static int few_frames(int depth, uint64_t *out) {
    int same;
    int n = depth ? few_frames(depth - 1, out) : memtap_fast_unwind(out, 10, 0, 0, &same, 0);
    sink++;
    return n;
}

Test(fastunwind, stops_at_max, .timeout = 30) {
    uint64_t few[10];
    cr_assert_eq(few_frames(50, few), 10);
}

static void *thread_main(void *arg) {
    plain(30, arg);
    return NULL;
}

Test(fastunwind, thread_stacks_match_libunwind, .timeout = 30) {
    static sample_t s;
    pthread_t t;
    pthread_create(&t, NULL, thread_main, &s);
    pthread_join(t, NULL);
    check(&s); /* ends in clone3, whose return address is undefined, like libunwind */
}

static sample_t in_handler;
static void on_signal(int sig) {
    (void)sig;
    probe(&in_handler);
}

Test(fastunwind, signal_frames_are_left_to_libunwind, .timeout = 30) {
    signal(SIGUSR1, on_signal);
    raise(SIGUSR1);
    /* the signal trampoline's frame needs libunwind: the fast walk says so */
    cr_assert(in_handler.nfast == -1 || in_handler.nfast == in_handler.nslow,
              "fast %d, libunwind %d", in_handler.nfast, in_handler.nslow);
    cr_assert_eq(in_handler.nfast, -1);
}

Test(fastunwind, own_frames_are_skipped, .timeout = 30) {
    uint64_t out[MAX];
    /* skipping the whole range of this test binary leaves libc's and ld.so's frames */
    extern char __executable_start, etext;
    int same;
    int n = memtap_fast_unwind(out, MAX, (uint64_t)(uintptr_t)&__executable_start,
                               (uint64_t)(uintptr_t)&etext, &same, 0);
    cr_assert(n >= 1);
    cr_assert(out[0] < (uint64_t)(uintptr_t)&__executable_start ||
              out[0] >= (uint64_t)(uintptr_t)&etext);
}
