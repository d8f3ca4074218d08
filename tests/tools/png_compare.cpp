// png_compare A.png B.png: exit 0 when both hold the same size and the same RGB(A) values.
#include <cstdio>

#include "io/png_file.h"
#include "status.h"

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: png_compare A.png B.png\n");
        return 2;
    }
    try {
        const auto a = sdgimp::io::read_png(argv[1]).image, b = sdgimp::io::read_png(argv[2]).image;
        if (a.width != b.width || a.height != b.height) {
            std::fprintf(stderr, "sizes differ: %dx%d vs %dx%d\n", a.width, a.height, b.width, b.height);
            return 1;
        }
        const int ch = std::min(a.channels, b.channels) >= 3 ? 3 : 1;
        int worst = 0;
        for (size_t p = 0; p < static_cast<size_t>(a.width) * a.height; ++p)
            for (int c = 0; c < ch; ++c)
                worst = std::max(worst, std::abs(a.pixels[p * a.channels + c] - b.pixels[p * b.channels + c]));
        if (worst) std::fprintf(stderr, "pixels differ by up to %d\n", worst);
        return worst ? 1 : 0;
    } catch (const sdgimp::Error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 2;
    }
}
