// A1111's Outpainting mk2 fill (get_matched_noise, from g-diffuser): the masked part of an image
// replaced by noise shaped in the frequency domain to the spectrum of the unmasked part and then
// given its colour histogram, so the diffusion model starts from texture that fits.
#pragma once

#include "../image.h"

namespace sdgimp::pipeline {

// rgb: the canvas (RGB); mask: gray or RGB, same size (255 = fill). noise_q: A1111's "Fall-off
// exponent" (0-4, lower = more detail); color_variation: its "Color variation" (0-1). Returns the
// canvas with the masked part filled, 8-bit as A1111 truncates it.
Image matched_noise(const Image& rgb, const Image& mask, double noise_q, double color_variation);

}  // namespace sdgimp::pipeline
