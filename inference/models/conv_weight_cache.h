// A convolution layer's weight kept on the CPU in the form its convolution runs fastest in at the
// size it is called with, made on the first call instead of on every call. oneDNN reorders a dense
// weight into its blocked layout on every call; where the activation is small next to the weight
// (the UNet's 1280-channel levels: 8x8 and 16x16 latents at 512 px, the whole UNet on a small
// preview) that reorder took more time than the convolution itself (2.2-6.5x measured), and
// Winograd's weight transform likewise cost a share of every call.
#pragma once

#include <atomic>
#include <mutex>
#include <torch/torch.h>

namespace sdgimp::models {

class ConvWeightCache {
public:
    // conv2d(x, weight, bias, stride, pad) for a float32 or bfloat16 x on the CPU with a k x k
    // weight (k > 1) of the same type, channels-last out; an undefined tensor for any other
    // operands (the caller convolves them itself). `fused` false (the benchmarks' LibTorch
    // baseline) always takes LibTorch's convolution with a channels-last copy of the weight (kept
    // apart, so that the two can alternate).
    torch::Tensor convolve(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                           int64_t stride, int64_t pad, bool fused);

    enum class Form { kNone, kChannelsLast, kPrepacked, kWinograd };
    // The form the last call used (tests, benchmarks).
    Form form() const;
    // Drops the kept form (the layer moved to the GPU).
    void clear();

private:
    torch::Tensor form_for(const torch::Tensor& weight, Form want, int64_t stride, int64_t pad);

    mutable std::mutex mutex_;  // upscaler tiles run through one model on several threads
    Form form_ = Form::kNone;
    torch::Tensor packed_, baseline_;
    // What packed_ was made from: a weight replaced (set_data, .to()) or changed in place is made
    // again. A weak reference to its storage, so that a new weight at a freed one's address is not
    // taken for it, and a weight that moved to the GPU is not held on the CPU.
    c10::weak_intrusive_ptr<c10::StorageImpl> source_{c10::intrusive_ptr<c10::StorageImpl>()};
    int64_t source_offset_ = -1, source_version_ = -1;
    torch::ScalarType source_dtype_ = torch::kFloat;
    std::atomic<bool> prepack_works_{true};
};

// The form a convolution of x with weight takes: Winograd where conv3x3_winograd applies; oneDNN's
// prepacked weight where all images together have at most 1152 output pixels (the reorder costs
// the weight's size, the arithmetic the weight's size times the pixels: measured 1.06-6.5x at 1152
// pixels and fewer, 0.8-0.97x at 2048 and more); LibTorch's channels-last convolution otherwise.
ConvWeightCache::Form conv_form_for(const torch::Tensor& x, const torch::Tensor& weight, int64_t stride, int64_t pad);

}  // namespace sdgimp::models
