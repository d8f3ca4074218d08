// Writes float32 tensors as a .safetensors file (8-byte header length, JSON header, raw data), the
// format PyTorch users load with safetensors.torch.load_file. Used for --save-latents.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sdgimp::io {

struct FloatTensor {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> values;  // row-major, prod(shape) values
};

// A tensor of any safetensors dtype as little-endian bytes ("F16", "BF16", "F32", "I64", ...).
struct RawBytesTensor {
    std::string name;
    std::string dtype;
    std::vector<int64_t> shape;
    const uint8_t* data = nullptr;
    size_t bytes = 0;
};

// Throws sdgimp::Error when the file cannot be written or a tensor's size does not match its shape.
// metadata: the header's "__metadata__" strings (training tools keep names and hashes there).
void write_safetensors(const std::string& path, const std::vector<FloatTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});
// The same for tensors of any dtype (their byte counts are checked against shape and dtype). The
// file appears under `path` only once complete (written beside it, then renamed).
void write_safetensors_raw(const std::string& path, const std::vector<RawBytesTensor>& tensors,
                           const std::map<std::string, std::string>& metadata = {});

}  // namespace sdgimp::io
