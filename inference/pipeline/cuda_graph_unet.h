// The UNet step replayed from CUDA graphs: on a GPU one eager step is launch-bound (hundreds of small
// kernels), so each input shape is run eagerly once (cuDNN picks its algorithms, lazy set-up happens),
// captured into a graph on the second call and replayed from then on. Builds against a CPU-only
// LibTorch compile a pass-through (eager) version.
#pragma once

#include <memory>
#include <torch/torch.h>

#include "../models/unet.h"

namespace sdgimp::pipeline {

class CudaGraphUNet {
public:
    explicit CudaGraphUNet(models::UNet unet);
    ~CudaGraphUNet();
    CudaGraphUNet(const CudaGraphUNet&) = delete;
    CudaGraphUNet& operator=(const CudaGraphUNet&) = delete;

    // x, t and context already on the device in the network's dtype and layout. The result is the
    // graph's output buffer: read it (copy it to the host) before the next call.
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& context);

    // Whether this build can capture (a CUDA LibTorch); false means forward() runs eagerly.
    static bool available();
    int captured_graphs() const;

private:
    struct State;
    std::unique_ptr<State> s_;
};

}  // namespace sdgimp::pipeline
