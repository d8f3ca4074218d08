#include "python_random.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace sdgimp::models {

void PythonRandom::init_genrand(uint32_t s) {
    mt_[0] = s;
    for (int i = 1; i < kN; ++i) mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + static_cast<uint32_t>(i);
    index_ = kN;
}

void PythonRandom::seed_with(int64_t seed) {
    uint64_t n = seed < 0 ? 0 - static_cast<uint64_t>(seed) : static_cast<uint64_t>(seed);
    std::vector<uint32_t> key;
    do {
        key.push_back(static_cast<uint32_t>(n & 0xffffffffu));
        n >>= 32;
    } while (n != 0);
    init_genrand(19650218u);
    int i = 1;
    size_t j = 0;
    for (size_t k = std::max<size_t>(kN, key.size()); k; --k) {
        mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] + static_cast<uint32_t>(j);
        ++i;
        ++j;
        if (i >= kN) { mt_[0] = mt_[kN - 1]; i = 1; }
        if (j >= key.size()) j = 0;
    }
    for (int k = kN - 1; k; --k) {
        mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) - static_cast<uint32_t>(i);
        ++i;
        if (i >= kN) { mt_[0] = mt_[kN - 1]; i = 1; }
    }
    mt_[0] = 0x80000000u;
    index_ = kN;
}

uint32_t PythonRandom::next_uint32() {
    if (index_ >= kN) {
        auto twist = [](uint32_t a, uint32_t b, uint32_t c) {
            const uint32_t y = (a & 0x80000000u) | (b & 0x7fffffffu);
            return c ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        };
        int k = 0;
        for (; k < kN - 397; ++k) mt_[k] = twist(mt_[k], mt_[k + 1], mt_[k + 397]);
        for (; k < kN - 1; ++k) mt_[k] = twist(mt_[k], mt_[k + 1], mt_[k + 397 - kN]);
        mt_[kN - 1] = twist(mt_[kN - 1], mt_[0], mt_[396]);
        index_ = 0;
    }
    uint32_t y = mt_[index_++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

uint32_t PythonRandom::getrandbits(int k) {
    if (k < 0 || k > 32) throw std::invalid_argument("getrandbits takes 0 to 32 bits here");
    if (k == 0) return 0;
    return next_uint32() >> (32 - k);
}

int64_t PythonRandom::randint(int64_t a, int64_t b) {
    if (b < a) throw std::invalid_argument("randint's range is empty");
    const uint64_t n = static_cast<uint64_t>(b - a) + 1;
    if (n > 0xffffffffu) throw std::invalid_argument("randint's range is wider than 32 bits here");
    int bits = 0;
    while (bits < 64 && (n >> bits) != 0) ++bits;
    uint64_t r = getrandbits(bits);
    while (r >= n) r = getrandbits(bits);
    return a + static_cast<int64_t>(r);
}

}  // namespace sdgimp::models
