// A clean C++ program: static containers filled at start and destroyed at exit, a
// function-local static never destroyed (reachable), iostreams, an exception thrown and
// caught (libstdc++'s emergency pool, the exception's own allocation). The leak check
// must pass it.
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

static std::map<std::string, std::vector<int>> table;
static std::vector<std::string> names;

static std::vector<int> &registry() {
    static auto *r = new std::vector<int>(100, 7); // never deleted: reachable at exit
    return *r;
}

int main() {
    for (int i = 0; i < 50; i++) {
        table["a fairly long key number " + std::to_string(i)] = std::vector<int>(i + 1, i);
        names.push_back(std::string(40, 'x') + std::to_string(i));
    }
    registry().push_back(1);
    try {
        throw std::runtime_error("an exception with a message longer than the short string");
    } catch (const std::exception &e) {
        std::cout << "caught: " << e.what() << "\n";
    }
    std::cout << table.size() << " " << names.size() << " " << registry().size() << std::endl;
    return 0;
}
