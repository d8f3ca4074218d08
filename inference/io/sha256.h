// SHA-256 (FIPS 180-4), streaming; used for A1111's model hashes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace sdgimp::io {

class Sha256 {
public:
    Sha256();
    void update(const uint8_t* data, size_t n);
    std::array<uint8_t, 32> finish();
    std::string hex_digest();  // finish() as lower-case hex

private:
    void block(const uint8_t* p);
    uint32_t h_[8];
    uint8_t buf_[64];
    size_t buf_len_ = 0;
    uint64_t total_ = 0;
};

std::string sha256_hex(const uint8_t* data, size_t n);

}  // namespace sdgimp::io
