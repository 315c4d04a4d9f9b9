// C++ new/delete: seen through malloc/free with operator new on the stack.
#include <cstdio>
#include <string>
#include <vector>

struct Widget {
    char payload[40];
};

std::vector<Widget *> kept;

__attribute__((noinline)) static void make_widgets() {
    for (int i = 0; i < 6; i++)
        kept.push_back(new Widget()); // LEAK:new
}

__attribute__((noinline)) static void make_array() {
    Widget *w = new Widget[10]; // LEAK:new[]
    kept.push_back(w);
}

__attribute__((noinline)) static void balanced() {
    for (int i = 0; i < 100; i++) {
        auto *s = new std::string(100, 'x');
        delete s;
    }
}

int main() {
    kept.reserve(64);
    make_widgets();
    make_array();
    balanced();
    return 0;
}
