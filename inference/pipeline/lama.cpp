#include "lama.h"

#include <unistd.h>

#include "../imaging/removal_box.h"
#include "../status.h"

namespace sdgimp::pipeline {

namespace {

constexpr int kCropTrigger = 800;  // IOPaint's hd_strategy_crop_trigger_size
constexpr int kCropMargin = 128;   // IOPaint's hd_strategy_crop_margin

torch::Tensor to_tensor(const Image& img) {  // (1, C, H, W) float in [0, 1]
    auto t = torch::from_blob(const_cast<uint8_t*>(img.pixels.data()), {img.height, img.width, img.channels}, torch::kUInt8);
    return t.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat) / 255.0;
}

}  // namespace

LamaRemover::LamaRemover(const std::string& path) : path_(path) {
    if (::access(path.c_str(), R_OK) != 0)
        throw Error(ErrorCode::kModelNotFound, "The LaMa model " + path + " was not found; put big-lama.pt there or choose PatchMatch.");
    try {
        module_ = torch::jit::load(path, torch::kCPU);
        module_.eval();
    } catch (const c10::Error&) {
        throw Error(ErrorCode::kBadFile, path + " is not a TorchScript LaMa model; use the big-lama.pt that IOPaint downloads.");
    }
}

Image LamaRemover::remove(const Image& rgb_in, const Image& mask_in) const {
    if (mask_in.width != rgb_in.width || mask_in.height != rgb_in.height)
        throw Error(ErrorCode::kInvalidRequest, "The mask must have the size of the image.");
    const Image rgb = imaging::to_rgb(rgb_in);
    Image mask = imaging::binary_mask(mask_in, false);
    for (auto& v : mask.pixels) v = v > 0 ? 255 : 0;
    const auto bounds = imaging::crop_region(mask, 0);
    if (!bounds) throw Error(ErrorCode::kInvalidRequest, "The removal mask is empty; select the object to remove first.");
    imaging::Box box{0, 0, rgb.width, rgb.height};
    if (std::max(rgb.width, rgb.height) > kCropTrigger) box = imaging::removal_crop(*bounds, rgb.width, rgb.height, kCropMargin);
    const Image part = imaging::crop(rgb, box), part_mask = imaging::crop(mask, box);
    const Image padded = imaging::pad_symmetric(part, 8), padded_mask = imaging::pad_symmetric(part_mask, 8);
    torch::Tensor out;
    try {
        torch::NoGradGuard ng;
        const auto m = (to_tensor(padded_mask) > 0).to(torch::kFloat);
        out = module_.forward({to_tensor(padded), m}).toTensor();
    } catch (const c10::Error& e) {
        throw Error(ErrorCode::kBadFile, "The LaMa model " + path_ + " failed on this image; check it is big-lama.pt (" +
                                             std::string(e.what_without_backtrace()).substr(0, 200) + ").");
    }
    if (out.dim() != 4 || out.size(0) != 1 || out.size(1) != 3 || out.size(2) != padded.height || out.size(3) != padded.width)
        throw Error(ErrorCode::kBadFile, "The model " + path_ + " does not return an image of its input's size; it is not a LaMa model.");
    if (!torch::isfinite(out).all().item<bool>())
        throw Error(ErrorCode::kInternal, "The LaMa model produced NaNs on this image; try PatchMatch.");
    // IOPaint: clip(x * 255, 0, 255) then a truncating uint8 cast.
    const auto px = (out[0] * 255).clamp(0, 255).to(torch::kUInt8).permute({1, 2, 0}).contiguous();
    const uint8_t* p = px.data_ptr<uint8_t>();
    Image result = rgb;
    for (int y = 0; y < part.height; ++y)
        for (int x = 0; x < part.width; ++x) {
            if (!part_mask.pixels[static_cast<size_t>(y) * part.width + x]) continue;
            const size_t dst = (static_cast<size_t>(box[1] + y) * rgb.width + box[0] + x) * 3;
            const size_t src = (static_cast<size_t>(y) * padded.width + x) * 3;
            for (int c = 0; c < 3; ++c) result.pixels[dst + c] = p[src + c];
        }
    return result;
}

}  // namespace sdgimp::pipeline
