// Reading a network's tensors out of a checkpoint's key map by name, with the file named in every
// complaint: a missing key, a shape that does not fit.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "../io/raw_tensor.h"
#include "../status.h"

namespace sdgimp::models {

class TensorLookup {
public:
    // `prefix` is put before every key asked for; `what` ends each complaint ("; the file is damaged
    // or not a ... model.").
    TensorLookup(const std::map<std::string, torch::Tensor>& tensors, std::string path, std::string prefix, std::string what)
        : tensors_(tensors), path_(std::move(path)), prefix_(std::move(prefix)), what_(std::move(what)) {}

    bool has(const std::string& key) const { return tensors_.count(prefix_ + key) != 0; }

    const torch::Tensor& get(const std::string& key) const {
        const auto it = tensors_.find(prefix_ + key);
        if (it == tensors_.end()) throw_bad_file(path_, "has no " + key + what_);
        return it->second;
    }

    torch::Tensor expect(const std::string& key, const std::vector<int64_t>& shape) const {
        const torch::Tensor& t = get(key);
        if (t.sizes().vec() != shape)
            throw_bad_file(path_, "has " + key + " of shape " + io::shape_text(t.sizes().vec()) + " where " + io::shape_text(shape) + " fits" + what_);
        return t.to(torch::kFloat);
    }

    // A 4-D convolution weight with `in` input channels and a k x k kernel; its output channels.
    int64_t conv_out(const std::string& key, int64_t in, int64_t k) const {
        const torch::Tensor& t = get(key);
        if (t.dim() != 4 || t.size(1) != in || t.size(2) != k || t.size(3) != k || t.size(0) < 1 || t.size(0) > 65536)
            throw_bad_file(path_, "has " + key + " of shape " + io::shape_text(t.sizes().vec()) + " where a " + std::to_string(k) + "x" +
                                      std::to_string(k) + " convolution over " + std::to_string(in) + " channels fits" + what_);
        return t.size(0);
    }

    [[noreturn]] void fail(const std::string& problem) const { throw_bad_file(path_, problem + what_); }

private:
    const std::map<std::string, torch::Tensor>& tensors_;
    std::string path_, prefix_, what_;
};

}  // namespace sdgimp::models
