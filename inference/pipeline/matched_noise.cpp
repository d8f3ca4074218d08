#include "matched_noise.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "../imaging/histogram_match.h"
#include "../imaging/numpy_random.h"
#include "../status.h"

namespace sdgimp::pipeline {
namespace {

// The script's helpers: an orthonormal 2-D FFT over the first two axes with the spectrum centred
// (fftshift before, ifftshift after), and its inverse the same way round.
torch::Tensor fft2_centred(const torch::Tensor& x) {
    return torch::fft::ifftshift(torch::fft::fft2(torch::fft::fftshift(x, std::vector<int64_t>{0, 1}), c10::nullopt, {0, 1}, "ortho"),
                                 std::vector<int64_t>{0, 1});
}
torch::Tensor ifft2_centred(const torch::Tensor& x) {
    return torch::fft::ifftshift(torch::fft::ifft2(torch::fft::fftshift(x, std::vector<int64_t>{0, 1}), c10::nullopt, {0, 1}, "ortho"),
                                 std::vector<int64_t>{0, 1});
}

torch::Tensor as_unit(const Image& img, int channels) {
    torch::Tensor t = torch::empty({img.height, img.width, channels}, torch::kFloat64);
    auto a = t.accessor<double, 3>();
    for (int y = 0; y < img.height; ++y)
        for (int x = 0; x < img.width; ++x)
            for (int c = 0; c < channels; ++c)
                a[y][x][c] = img.pixels[(static_cast<size_t>(y) * img.width + x) * img.channels + (img.channels >= 3 ? c : 0)] / 255.0;
    return t;
}

}  // namespace

Image matched_noise(const Image& rgb, const Image& mask, double noise_q, double color_variation) {
    if (!rgb.valid() || !mask.valid() || rgb.width != mask.width || rgb.height != mask.height)
        throw Error(ErrorCode::kInvalidRequest, "The outpainting mask must have the canvas's size.");
    // NumPy's (rows, columns, channels) order throughout; the script calls the rows "width".
    const int64_t rows = rgb.height, cols = rgb.width;
    const torch::Tensor src = as_unit(rgb, 3);
    const torch::Tensor mask_rgb = as_unit(mask, 3);
    const torch::Tensor mask_grey = mask_rgb.sum(2) / 3.0;
    const torch::Tensor img_mask = mask_grey > 1e-6, ref_mask = mask_grey < 1e-3;
    if (ref_mask.sum().item<int64_t>() == 0)
        throw Error(ErrorCode::kInvalidRequest, "Outpainting needs some of the image left unmasked to match its noise to.");

    torch::Tensor windowed = src * (1.0 - mask_grey.unsqueeze(2));
    const double peak = windowed.max().item<double>();
    if (peak > 0) windowed = windowed / peak;  // a black image: NumPy would divide by zero here
    windowed = windowed + src.mean().item<double>() * mask_rgb;
    const torch::Tensor src_fft = fft2_centred(windowed.to(torch::kComplexDouble));
    const torch::Tensor src_dist = src_fft.abs();
    // Where the spectrum is exactly zero NumPy's phase is NaN; a zero phase keeps the image finite.
    const torch::Tensor src_phase = torch::where(src_dist > 0, src_fft / src_dist.to(torch::kComplexDouble), torch::zeros_like(src_fft));

    // The starting noise: default_rng(0).random((rows, cols, 3)), greyed by the colour variation.
    imaging::NumpyPcg64 rng(0);
    torch::Tensor noise = torch::empty({rows, cols, 3}, torch::kFloat64);
    {
        double* p = noise.data_ptr<double>();
        for (int64_t i = 0; i < noise.numel(); ++i) p[i] = rng.random();
    }
    const torch::Tensor noise_grey = noise.sum(2) / 3.0;
    noise = noise * color_variation + ((1.0 - color_variation) * noise_grey).unsqueeze(2);

    // The script's window (mode 1, std 3.14: its exponent std / 3.14 is exactly 1).
    torch::Tensor window = torch::empty({rows, cols}, torch::kFloat64);
    {
        auto w = window.accessor<double, 2>();
        const double m = static_cast<double>(std::min(rows, cols));
        const double scale_x = static_cast<double>(rows) / m, scale_y = static_cast<double>(cols) / m;
        for (int64_t i = 0; i < rows; ++i) {
            const double x = (static_cast<double>(i) / static_cast<double>(rows) * 2.0 - 1.0) * scale_x;
            for (int64_t j = 0; j < cols; ++j) {
                const double fy = (static_cast<double>(j) / static_cast<double>(cols) * 2.0 - 1.0) * scale_y;
                w[i][j] = 1.0 / ((x * x + 1.0) * (fy * fy + 1.0));
            }
        }
    }
    torch::Tensor noise_fft = fft2_centred(noise.to(torch::kComplexDouble)) * window.unsqueeze(2);
    noise = torch::real(ifft2_centred(noise_fft));
    torch::Tensor shaped_fft = fft2_centred(noise.to(torch::kComplexDouble));
    shaped_fft = (shaped_fft.abs().pow(2) * src_dist.pow(noise_q)).to(torch::kComplexDouble) * src_phase;

    torch::Tensor shaped = torch::real(ifft2_centred(shaped_fft)).contiguous();
    shaped = shaped - shaped.min();
    const double top = shaped.max().item<double>();
    if (top > 0) shaped = shaped / top;

    // Each channel of the masked pixels given the histogram of the unmasked source pixels.
    {
        auto s = shaped.accessor<double, 3>();
        auto o = src.accessor<double, 3>();
        auto im = img_mask.accessor<bool, 2>();
        auto rm = ref_mask.accessor<bool, 2>();
        for (int c = 0; c < 3; ++c) {
            std::vector<double> source, templ;
            for (int64_t i = 0; i < rows; ++i)
                for (int64_t j = 0; j < cols; ++j) {
                    if (im[i][j]) source.push_back(s[i][j][c]);
                    if (rm[i][j]) templ.push_back(o[i][j][c]);
                }
            if (source.empty()) continue;
            const auto matched = imaging::match_cumulative_cdf(source, templ);
            size_t k = 0;
            for (int64_t i = 0; i < rows; ++i)
                for (int64_t j = 0; j < cols; ++j)
                    if (im[i][j]) s[i][j][c] = matched[k++];
        }
    }
    const torch::Tensor out = (src * (1.0 - mask_rgb) + shaped * mask_rgb).clamp(0.0, 1.0).contiguous();
    Image result{rgb.width, rgb.height, 3, std::vector<uint8_t>(static_cast<size_t>(rgb.width) * rgb.height * 3)};
    const double* p = out.data_ptr<double>();
    for (size_t i = 0; i < result.pixels.size(); ++i) result.pixels[i] = static_cast<uint8_t>(std::clamp(p[i] * 255.0, 0.0, 255.0));
    return result;
}

}  // namespace sdgimp::pipeline
