// The image geometry of facexlib's FaceRestoreHelper (A1111's face restoration), in OpenCV's manner:
// the similarity that takes a face's five landmarks to the 512-pixel template, warpAffine with
// OpenCV's 1/32-pixel sample positions, GaussianBlur and the Lanczos4 resize of the detector input.
// Images here are float tensors (H, W, C) holding 8-bit values (or a float mask, C = 1).
#pragma once

#include <array>
#include <vector>

#include <torch/torch.h>

namespace sdgimp::imaging {

// x' = m[0] x + m[1] y + m[2], y' = m[3] x + m[4] y + m[5] (OpenCV's 2x3 matrix, row by row).
using Affine = std::array<double, 6>;
using Point2 = std::array<double, 2>;

// The rotation, uniform scale and translation taking `from` to `to` with the least squared
// distance (what cv2.estimateAffinePartial2D settles on when every landmark is an inlier).
// Throws sdgimp::Error for fewer than two points or points that all coincide.
Affine fit_similarity(const std::vector<Point2>& from, const std::vector<Point2>& to);

// cv2.invertAffineTransform.
Affine invert_affine(const Affine& m);

enum class WarpFilter { kBilinear, kBicubic };

// cv2.warpAffine(src, m, (out_w, out_h), flags, BORDER_CONSTANT, border): every output pixel
// samples src at m's inverse of its position, rounded to 1/32 pixel as OpenCV does; neighbours
// outside src take `border` (one value per channel). With `round_to_8bit` the result is rounded and
// clamped to 0..255 as OpenCV writes 8-bit images; otherwise it stays float (OpenCV's float images,
// bicubic weights in float32 as its tables hold them). (origin_x, origin_y): where the out_w x out_h
// result lies in the destination, for a part of a larger warp (the same pixels as the whole one's).
torch::Tensor warp_affine(const torch::Tensor& src, const Affine& m, int out_w, int out_h, WarpFilter filter,
                          const std::vector<double>& border, bool round_to_8bit, int origin_x = 0, int origin_y = 0);

// cv2.GaussianBlur(img, (ksize, ksize), sigma) on a float64 (H, W) image: the separable kernel
// getGaussianKernel builds in double precision, OpenCV's default BORDER_REFLECT_101.
torch::Tensor gaussian_blur_reflect101(const torch::Tensor& img, int ksize, double sigma);

// The eight weights of OpenCV's Lanczos4 at fractional offset fx (float32, normalised to sum 1).
std::array<float, 8> lanczos4_weights(float fx);

// cv2.resize(img, (out_w, out_h), interpolation=INTER_LANCZOS4) of an (H, W, C) image holding 8-bit
// values: 8 taps per axis, source positions (d + 0.5) * in / out - 0.5, edge pixels repeated;
// rounded and clamped to 0..255. Same size returns the image unchanged (as OpenCV copies it).
torch::Tensor resize_lanczos4(const torch::Tensor& img, int out_w, int out_h);

}  // namespace sdgimp::imaging
