#include "device_choice.h"

#include <torch/cuda.h>

#include "../status.h"

namespace sdgimp {

torch::Device parse_device(const std::string& name) {
    if (name.empty() || name == "cpu") return torch::kCPU;
    const bool cuda = name == "cuda" || (name.rfind("cuda:", 0) == 0 && name.size() > 5 &&
                                         name.find_first_not_of("0123456789", 5) == std::string::npos && name.size() < 9);
    if (!cuda) throw Error(ErrorCode::kInvalidRequest, "Device must be cpu, cuda or cuda:N, not '" + name + "'.");
    if (!torch::cuda::is_available())
        throw Error(ErrorCode::kInvalidRequest,
                    "Device '" + name + "' is not available: this engine's LibTorch has no CUDA or no GPU is visible; "
                    "choose cpu, or build against a CUDA LibTorch (meson -Dtorch_dir=...).");
    const torch::Device d(name);
    if (d.has_index() && d.index() >= static_cast<int>(torch::cuda::device_count()))
        throw Error(ErrorCode::kInvalidRequest, "Device '" + name + "' does not exist: this machine has " +
                                                    std::to_string(torch::cuda::device_count()) + " CUDA device(s).");
    return d;
}

torch::ScalarType parse_precision(const std::string& name, const torch::Device& device) {
    if (name.empty() || name == "float32") return torch::kFloat;
    if (name == "bfloat16") return torch::kBFloat16;
    if (name == "float16") {
        if (device.is_cpu())
            throw Error(ErrorCode::kInvalidRequest,
                        "Precision float16 needs a CUDA device (LibTorch has no float16 convolution on the CPU); use bfloat16 or float32.");
        return torch::kHalf;
    }
    throw Error(ErrorCode::kInvalidRequest, "Precision must be float32, bfloat16 or float16, not '" + name + "'.");
}

}  // namespace sdgimp
