// Torch-free view of a tensor stored in a checkpoint file: dtype, geometry and the bytes it
// lives in. The parsers produce these; torch_bridge turns them into torch::Tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mapped_file.h"

namespace sdgimp::io {

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // safetensors spelling: "F32", "BF16", ...

struct RawTensor {
    DType dtype = DType::kF32;
    std::vector<int64_t> shape;
    std::vector<int64_t> strides;  // in elements; contiguous when taken from safetensors
    int64_t storage_offset = 0;    // in elements, from `data`
    const uint8_t* data = nullptr; // start of the storage
    size_t storage_bytes = 0;      // bytes available from `data`
    std::shared_ptr<const MappedFile> owner;  // keeps the mapping alive

    int64_t numel() const;
    bool is_contiguous() const;
};

// A checkpoint's tensors by key, in sorted order (key order carries no meaning for loading).
using TensorMap = std::map<std::string, RawTensor>;

// Checks that every element a (shape, strides, offset) view can touch lies inside the storage;
// throws sdgimp::Error naming `what` otherwise.
void check_view_in_bounds(const RawTensor& t, const std::string& file, const std::string& what);

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape);

// "[2, 4, 3, 3]", for messages.
std::string shape_text(const std::vector<int64_t>& shape);

}  // namespace sdgimp::io
