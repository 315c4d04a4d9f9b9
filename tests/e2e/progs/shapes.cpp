// Stack shapes for the unwinder comparison (fast unwinder against libunwind): a C++
// exception unwinding through a destructor that allocates, a catch block that allocates,
// a frame realigned for over-aligned locals, lambdas through std::function, and a
// signal handler that allocates.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <vector>

static std::vector<void *> kept;

struct Noisy {
    ~Noisy() { kept.push_back(std::malloc(24)); } // allocates while the exception unwinds
};

__attribute__((noinline)) static void thrower(int depth) {
    Noisy n;
    if (depth == 0)
        throw std::runtime_error("deep");
    thrower(depth - 1);
}

__attribute__((noinline)) static void catcher() {
    try {
        thrower(6);
    } catch (const std::exception &e) {
        kept.push_back(std::malloc(40)); // in the catch block
    }
}

__attribute__((noinline)) static void realigned() {
    alignas(64) volatile char block[256];
    block[0] = 1;
    kept.push_back(std::malloc(56 + block[0]));
}

static void on_alarm(int) {
    kept.push_back(std::malloc(72)); // not async-signal-safe, but programs do it
}

int main() {
    for (int i = 0; i < 3; i++)
        catcher();
    realigned();
    std::function<void(int)> rec = [&](int n) {
        if (n == 0)
            kept.push_back(std::malloc(88));
        else
            rec(n - 1);
    };
    rec(10);
    std::signal(SIGALRM, on_alarm);
    std::raise(SIGALRM);
    std::printf("shapes %zu\n", kept.size());
    return 0;
}
