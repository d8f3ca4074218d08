// Python's random.Random (CPython's Mersenne Twister, its seeding from an int, getrandbits and
// randint), for A1111 code that draws from it: Hypertile picks its tile counts with it.
#pragma once

#include <array>
#include <cstdint>

namespace sdgimp::models {

class PythonRandom {
public:
    explicit PythonRandom(int64_t seed = 0) { seed_with(seed); }
    // random.seed(n) for an int n: init_by_array over |n|'s 32-bit words, least significant first.
    void seed_with(int64_t seed);
    uint32_t next_uint32();
    // getrandbits(k) for 0 <= k <= 32.
    uint32_t getrandbits(int k);
    // randint(a, b): a + _randbelow(b - a + 1), by rejection on getrandbits of its bit length.
    int64_t randint(int64_t a, int64_t b);

private:
    static constexpr int kN = 624;
    std::array<uint32_t, kN> mt_{};
    int index_ = kN;
    void init_genrand(uint32_t s);
};

}  // namespace sdgimp::models
