#include "numpy_random.h"

#include <array>
#include <cstddef>
#include <vector>

namespace sdgimp::imaging {
namespace {

// SeedSequence's hash constants (numpy/random/bit_generator.pyx).
constexpr uint32_t kInitA = 0x43b0d7e5, kMultA = 0x931e8875, kInitB = 0x8b51f9dd, kMultB = 0x58f38ded;
constexpr uint32_t kMixMultL = 0xca01f9dd, kMixMultR = 0x4973f715;
constexpr int kXShift = 16, kPoolSize = 4;

// SeedSequence(seed).generate_state(n, np.uint64) for a non-negative integer seed.
std::vector<uint64_t> seed_sequence_state(uint64_t seed, int n_words64) {
    std::vector<uint32_t> entropy;
    if (seed == 0) entropy.push_back(0);
    for (uint64_t s = seed; s > 0; s >>= 32) entropy.push_back(static_cast<uint32_t>(s));
    uint32_t hash_const = kInitA;
    auto hashmix = [&](uint32_t value) {
        value ^= hash_const;
        hash_const *= kMultA;
        value *= hash_const;
        value ^= value >> kXShift;
        return value;
    };
    auto mix = [](uint32_t x, uint32_t y) {
        uint32_t r = kMixMultL * x - kMixMultR * y;
        r ^= r >> kXShift;
        return r;
    };
    std::array<uint32_t, kPoolSize> pool{};
    for (int i = 0; i < kPoolSize; ++i) pool[i] = hashmix(i < static_cast<int>(entropy.size()) ? entropy[static_cast<size_t>(i)] : 0);
    for (int src = 0; src < kPoolSize; ++src)
        for (int dst = 0; dst < kPoolSize; ++dst)
            if (src != dst) pool[dst] = mix(pool[dst], hashmix(pool[src]));
    for (size_t src = kPoolSize; src < entropy.size(); ++src)
        for (int dst = 0; dst < kPoolSize; ++dst) pool[dst] = mix(pool[dst], hashmix(entropy[src]));
    uint32_t h = kInitB;
    std::vector<uint32_t> words(static_cast<size_t>(n_words64) * 2);
    for (size_t i = 0; i < words.size(); ++i) {
        uint32_t v = pool[i % kPoolSize];
        v ^= h;
        h *= kMultB;
        v *= h;
        v ^= v >> kXShift;
        words[i] = v;
    }
    std::vector<uint64_t> out(static_cast<size_t>(n_words64));
    for (size_t i = 0; i < out.size(); ++i) out[i] = words[2 * i] | (static_cast<uint64_t>(words[2 * i + 1]) << 32);  // little-endian view
    return out;
}

constexpr unsigned __int128 kMultiplier = (static_cast<unsigned __int128>(0x2360ED051FC65DA4ULL) << 64) | 0x4385DF649FCCF645ULL;

}  // namespace

NumpyPcg64::NumpyPcg64(uint64_t seed) {
    const auto v = seed_sequence_state(seed, 4);
    const unsigned __int128 init_state = (static_cast<unsigned __int128>(v[0]) << 64) | v[1];
    const unsigned __int128 init_seq = (static_cast<unsigned __int128>(v[2]) << 64) | v[3];
    state_ = 0;
    inc_ = (init_seq << 1) | 1;
    step();
    state_ += init_state;
    step();
}

void NumpyPcg64::step() { state_ = state_ * kMultiplier + inc_; }

uint64_t NumpyPcg64::next64() {
    step();
    const uint64_t x = static_cast<uint64_t>(state_ >> 64) ^ static_cast<uint64_t>(state_);
    const unsigned rot = static_cast<unsigned>(state_ >> 122);
    return (x >> rot) | (x << ((64 - rot) & 63));
}

double NumpyPcg64::random() { return static_cast<double>(next64() >> 11) * (1.0 / 9007199254740992.0); }

}  // namespace sdgimp::imaging
