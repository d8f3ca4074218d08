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

// Throws sdgimp::Error when the file cannot be written or a tensor's size does not match its shape.
// metadata: the header's "__metadata__" strings (training tools keep names and hashes there).
void write_safetensors(const std::string& path, const std::vector<FloatTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace sdgimp::io
