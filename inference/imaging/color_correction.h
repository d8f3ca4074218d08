// A1111's img2img colour correction ("Apply color correction to img2img results to match original
// colors"): the result's L*a*b* histograms matched to those of the image it started from, then the
// result's own luminosity put back. Each step follows the library A1111 calls, to the bit:
// OpenCV's 8-bit Lab conversions (its integer tables), scikit-image's match_histograms on uint8
// arrays, and blendmodes' luminosity blend.
#pragma once

#include "../image.h"

namespace sdgimp::imaging {

// cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB) on 8-bit RGB: L scaled to 0..255, a and b offset by 128.
Image rgb_to_lab(const Image& rgb);

// cv2.cvtColor(lab, cv2.COLOR_LAB2RGB) on 8-bit Lab.
Image lab_to_rgb(const Image& lab);

// skimage.exposure.match_histograms(image, reference, channel_axis=2) on uint8 arrays, stored back
// into uint8 as NumPy does (the interpolated values truncated). Same channel count on both sides.
Image match_histograms_u8(const Image& image, const Image& reference);

// blendmodes' blendLayers(background, foreground, BlendType.LUMINOSITY) on opaque RGB images of one
// size: the background's colours at the foreground's luminosity, clipped as the W3C SetLum does.
Image blend_luminosity(const Image& background, const Image& foreground);

// setup_color_correction: the target the corrections match (the Lab of the image a run starts from).
Image color_correction_target(const Image& rgb);

// apply_color_correction: `rgb` (a run's output) with the histograms of `target_lab`. RGB out.
Image apply_color_correction(const Image& target_lab, const Image& rgb);

}  // namespace sdgimp::imaging
