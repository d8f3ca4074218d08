#include "model_summary.h"

#include "io/checkpoint_file.h"
#include "io/checkpoint_keys.h"
#include "io/mapped_file.h"
#include "io/model_hash.h"
#include "model_config.h"

namespace sdgimp {

ModelSummary summarize_model(const std::string& path) {
    io::CheckpointFile ck = io::open_checkpoint(path);
    const io::TensorMap tensors = io::normalize_sd_keys(std::move(ck.tensors));
    const ModelConfig cfg = load_model_config(path, tensors);
    ModelSummary s;
    s.kind = model_kind(cfg);
    s.old_hash = io::old_model_hash(*io::MappedFile::open(path));
    s.default_size = cfg.prediction == Prediction::kV ? 768 : 512;
    return s;
}

}  // namespace sdgimp
