// NumPy's default generator, np.random.default_rng(seed): PCG64 (XSL-RR output, 128-bit state)
// seeded through SeedSequence, and Generator.random()'s doubles. A1111's Outpainting mk2 draws
// its starting noise from default_rng(0), so its images depend on these exact numbers.
#pragma once

#include <cstdint>

namespace sdgimp::imaging {

class NumpyPcg64 {
public:
    explicit NumpyPcg64(uint64_t seed);
    uint64_t next64();
    double random();  // [0, 1): the top 53 bits of next64(), as Generator.random()

private:
    unsigned __int128 state_ = 0, inc_ = 0;
    void step();
};

}  // namespace sdgimp::imaging
