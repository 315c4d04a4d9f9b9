// A C++ example: shapes kept in a registry; one kind is never deleted.
// Run: memtap run -- build/examples/shapes && memtap leaks <capture>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

struct Shape {
    virtual ~Shape() = default;
    virtual double area() const = 0;
};

struct Square : Shape {
    double side;
    explicit Square(double s) : side(s) {}
    double area() const override { return side * side; }
};

struct Polygon : Shape {
    std::vector<double> points;
    explicit Polygon(int n) : points(static_cast<size_t>(n) * 2, 1.0) {}
    double area() const override { return static_cast<double>(points.size()); }
};

static std::vector<Shape *> registry;

// Polygons are registered with a raw pointer and never deleted: a leak.
static void add_polygons(int n) {
    for (int i = 0; i < n; i++)
        registry.push_back(new Polygon(100 + i));
}

// Squares are owned by unique_ptr: freed properly.
static double sum_squares(int n) {
    std::vector<std::unique_ptr<Shape>> squares;
    for (int i = 0; i < n; i++)
        squares.push_back(std::make_unique<Square>(i));
    double total = 0;
    for (auto &s : squares)
        total += s->area();
    return total;
}

int main() {
    add_polygons(5);
    double total = sum_squares(1000);
    for (Shape *s : registry)
        total += s->area();
    std::printf("total area %.0f\n", total);
    return 0;
}
