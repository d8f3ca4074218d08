// The one place where foreign key layouts become the original ones the modules mirror.
#pragma once

#include <string>

#include "raw_tensor.h"

namespace sdgimp::io {

// Old SD 1.x files (early transformers) lack the "text_model." level; training files carry
// flattened "model_ema.*" copies. Returns the renamed map and counts what it dropped.
TensorMap normalize_sd_keys(TensorMap tensors, int* dropped = nullptr);

// Keys a Stable Diffusion file may hold that no module consumes: the ldm schedule buffers
// (recomputed from the config in float32) and unused CLIP extras.
bool is_known_non_module_key(const std::string& key);

// Keys a module has that files may omit (rebuilt when absent).
bool is_optional_module_key(const std::string& key);

}  // namespace sdgimp::io
