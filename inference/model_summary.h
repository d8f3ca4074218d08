// What a model picker shows about a checkpoint before anything is loaded: family and prediction
// from the tensor shapes and sidecar, A1111's legacy 8-hex hash (64 KiB read), the default size.
// Torch-free: reads the file's index only.
#pragma once

#include <string>

namespace sdgimp {

struct ModelSummary {
    std::string kind;       // "sd2-v", "sd1", "sd2-inpaint", ...
    std::string old_hash;   // A1111's legacy model hash
    int default_size = 512; // 768 for SD 2.x v-prediction
};

// Throws sdgimp::Error naming the file when it is not a readable checkpoint.
ModelSummary summarize_model(const std::string& path);

}  // namespace sdgimp
