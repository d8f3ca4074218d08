// What a UNet call changes in its self-attention layers: A1111's token merging (per call) and
// Hypertile (per run, with its own random draws).
#pragma once

#include "hypertile.h"
#include "token_merging.h"

namespace sdgimp::models {

struct AttentionCall {
    TokenMerging merging;
    Hypertile* hypertile = nullptr;  // the run's, while one is installed (not owned)
};

}  // namespace sdgimp::models
