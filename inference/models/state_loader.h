// Name-for-name copy of checkpoint tensors into a module tree, reporting what did not fit.
#pragma once

#include <string>
#include <torch/torch.h>
#include <vector>

#include "../io/raw_tensor.h"

namespace sdgimp::models {

struct LoadReport {
    std::vector<std::string> missing;      // module expects, file lacks
    std::vector<std::string> unexpected;   // file has, no module takes (known extras excluded)
    std::vector<std::string> mismatched;   // "key: file [a,b] vs model [c,d]"
    int loaded = 0;
    bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
};

// A contiguous CPU tensor holding a copy of the raw tensor's elements, in its own dtype.
torch::Tensor to_torch(const io::RawTensor& t);

// The raw tensor as `dtype`: a view of the mapped file itself when it is already contiguous, aligned
// and of that dtype (safetensors and zip checkpoints: loading costs no copy), else a converted copy.
torch::Tensor file_backed(const io::RawTensor& t, torch::Dtype dtype);
// The same in the tensor's own dtype.
torch::Tensor file_backed(const io::RawTensor& t);

// Sets every parameter and buffer of `m` from tensors[prefix + name] (file_backed), converting to
// `dtype` for floating tensors. Keys of `tensors` under `prefix` that `m` does not have are unexpected.
LoadReport load_state(torch::nn::Module& m, const io::TensorMap& tensors, const std::string& prefix,
                      torch::Dtype dtype = torch::kFloat);

}  // namespace sdgimp::models
