// Builds small zip archives in memory for loader tests (stored or "deflated"-flagged entries).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sdgimp::test {

struct ZipInput {
    std::string name, data;
    uint16_t method = 0;
    uint32_t declared_size = 0;  // for method != 0: the claimed uncompressed size
};

inline void put_le(std::string& s, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

inline std::string make_zip(const std::vector<ZipInput>& entries) {
    std::string out, central;
    for (const ZipInput& e : entries) {
        const uint32_t local = static_cast<uint32_t>(out.size());
        const uint32_t usize = e.method ? e.declared_size : static_cast<uint32_t>(e.data.size());
        put_le(out, 0x04034b50, 4); put_le(out, 20, 2); put_le(out, 0, 2); put_le(out, e.method, 2);
        put_le(out, 0, 4); put_le(out, 0, 4); put_le(out, e.data.size(), 4); put_le(out, usize, 4);
        put_le(out, e.name.size(), 2); put_le(out, 0, 2);
        out += e.name;
        out += e.data;
        put_le(central, 0x02014b50, 4); put_le(central, 20, 2); put_le(central, 20, 2); put_le(central, 0, 2);
        put_le(central, e.method, 2); put_le(central, 0, 4); put_le(central, 0, 4);
        put_le(central, e.data.size(), 4); put_le(central, usize, 4); put_le(central, e.name.size(), 2);
        put_le(central, 0, 2); put_le(central, 0, 2); put_le(central, 0, 2); put_le(central, 0, 2);
        put_le(central, 0, 4); put_le(central, local, 4);
        central += e.name;
    }
    const uint32_t cd_off = static_cast<uint32_t>(out.size());
    out += central;
    put_le(out, 0x06054b50, 4); put_le(out, 0, 2); put_le(out, 0, 2);
    put_le(out, entries.size(), 2); put_le(out, entries.size(), 2);
    put_le(out, central.size(), 4); put_le(out, cd_off, 4); put_le(out, 0, 2);
    return out;
}

}  // namespace sdgimp::test
