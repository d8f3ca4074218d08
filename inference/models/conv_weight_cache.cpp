#include "conv_weight_cache.h"

#include <ATen/Context.h>

#include "winograd_conv.h"

namespace sdgimp::models {

namespace {

constexpr int64_t kPrepackedMaxPixels = 1152;

bool cpu_conv_operands(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
    const auto t = x.scalar_type();
    return x.is_cpu() && weight.is_cpu() && x.dim() == 4 && weight.dim() == 4 && (t == torch::kFloat || t == torch::kBFloat16) &&
           weight.scalar_type() == t && (!bias.defined() || (bias.scalar_type() == t && bias.is_cpu())) &&
           x.size(1) == weight.size(1) && (weight.size(2) > 1 || weight.size(3) > 1) && !torch::GradMode::is_enabled();
}

}  // namespace

ConvWeightCache::Form conv_form_for(const torch::Tensor& x, const torch::Tensor& weight, int64_t stride, int64_t pad) {
    if (winograd_applies(x, weight, stride, pad)) return ConvWeightCache::Form::kWinograd;
    const int64_t out_h = (x.size(2) + 2 * pad - weight.size(2)) / stride + 1;
    const int64_t out_w = (x.size(3) + 2 * pad - weight.size(3)) / stride + 1;
    if (at::hasMKLDNN() && x.size(0) * out_h * out_w <= kPrepackedMaxPixels) return ConvWeightCache::Form::kPrepacked;
    return ConvWeightCache::Form::kChannelsLast;
}

ConvWeightCache::Form ConvWeightCache::form() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return form_;
}

void ConvWeightCache::clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    packed_ = baseline_ = torch::Tensor();
    form_ = Form::kNone;
    source_ = c10::weak_intrusive_ptr<c10::StorageImpl>(c10::intrusive_ptr<c10::StorageImpl>());
}

torch::Tensor ConvWeightCache::form_for(const torch::Tensor& weight, Form want, int64_t stride, int64_t pad) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (form_ == want && !source_.expired() && source_._unsafe_get_target() == weight.storage().unsafeGetStorageImpl() &&
        source_offset_ == weight.storage_offset() && source_version_ == weight._version() &&
        source_dtype_ == weight.scalar_type())
        return packed_;
    packed_ = torch::Tensor();  // the old form goes before the new one is made
    form_ = Form::kNone;        // and is not taken for kept if making the new one throws
    switch (want) {
        case Form::kWinograd:
            packed_ = winograd_weights(weight);
            break;
        case Form::kPrepacked:
            packed_ = at::mkldnn_reorder_conv2d_weight(weight.contiguous().to_mkldnn(), {pad, pad}, {stride, stride}, {1, 1}, 1);
            break;
        default:
            // Shares the weight's storage when it is channels-last already (SDModel lays them out so).
            packed_ = weight.contiguous(torch::MemoryFormat::ChannelsLast);
            break;
    }
    form_ = want;
    source_ = weight.storage().getWeakStorageImpl();
    source_offset_ = weight.storage_offset();
    source_version_ = weight._version();
    source_dtype_ = weight.scalar_type();
    return packed_;
}

torch::Tensor ConvWeightCache::convolve(const torch::Tensor& x_in, const torch::Tensor& weight, const torch::Tensor& bias,
                                        int64_t stride, int64_t pad, bool fused) {
    if (!cpu_conv_operands(x_in, weight, bias)) return {};
    // oneDNN convolves in channels-last whenever the weight or the input is so; the input follows.
    const torch::Tensor x = x_in.contiguous(torch::MemoryFormat::ChannelsLast);
    if (!fused) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!baseline_.defined() || baseline_.sizes() != weight.sizes() || baseline_.scalar_type() != weight.scalar_type())
            baseline_ = weight.contiguous(torch::MemoryFormat::ChannelsLast);
        return torch::conv2d(x, baseline_, bias, stride, pad);
    }
    Form want = conv_form_for(x, weight, stride, pad);
    if (want == Form::kPrepacked && prepack_works_) {
        try {
            const torch::Tensor w = form_for(weight, want, stride, pad);
            // LibTorch convolves an oneDNN-layout weight in NCHW; the small result goes back to the
            // layout the next layers read.
            return at::mkldnn_convolution(x, w, bias, {pad, pad}, {stride, stride}, {1, 1}, 1)
                .contiguous(torch::MemoryFormat::ChannelsLast);
        } catch (const c10::Error&) {
            // Measured on LibTorch 1.13; a build whose oneDNN convolution refuses a prepacked weight
            // with a dense input keeps this layer in channels-last from then on.
            prepack_works_ = false;
        }
    }
    if (want == Form::kPrepacked) want = Form::kChannelsLast;
    const torch::Tensor w = form_for(weight, want, stride, pad);
    if (want == Form::kWinograd) return conv3x3_winograd(x, weight, bias, w);
    return torch::conv2d(x, w, bias, stride, pad);
}

}  // namespace sdgimp::models
