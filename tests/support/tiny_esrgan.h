// A small but complete ESRGAN (BasicSR RRDBNet, x4, 4 features, growth 2, one block) written as a
// user's .safetensors file, for tests of ESRGAN loading and of upscalers found by name.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "io/safetensors_writer.h"

namespace sdgimp::test {

using Shapes = std::map<std::string, std::vector<int64_t>>;

inline Shapes small_rrdbnet() {
    const int64_t f = 4, g = 2;
    Shapes s;
    auto conv = [&](const std::string& n, int64_t out, int64_t in) {
        s[n + ".weight"] = {out, in, 3, 3};
        s[n + ".bias"] = {out};
    };
    conv("conv_first", f, 3);
    for (int r = 1; r <= 3; ++r)
        for (int c = 1; c <= 5; ++c) conv("body.0.rdb" + std::to_string(r) + ".conv" + std::to_string(c), c < 5 ? g : f, f + (c - 1) * g);
    conv("conv_body", f, f);
    conv("conv_up1", f, f);
    conv("conv_up2", f, f);
    conv("conv_hr", f, f);
    conv("conv_last", 3, f);
    return s;
}

// Small fixed values (a repeating -0.03..0.03 ramp), so runs are reproducible.
inline void write_shapes(const std::string& path, const Shapes& shapes) {
    std::vector<io::FloatTensor> ts;
    float v = 0;
    for (const auto& [name, shape] : shapes) {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        std::vector<float> values(static_cast<size_t>(n));
        for (float& x : values) x = 0.01f * static_cast<float>(static_cast<int>(v++) % 7 - 3);
        ts.push_back({name, shape, values});
    }
    io::write_safetensors(path, ts);
}

}  // namespace sdgimp::test
