// Prompt text → the conditioning tensors the CFG denoiser uses at each model call, as A1111 builds
// them: extra-network tags removed, AND sub-prompts, per-step prompt schedules, 75-token chunks
// encoded and concatenated, emphasis applied to the encoder output.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <torch/torch.h>
#include <utility>
#include <vector>

#include "../sampling/denoiser.h"
#include "../text/clip_tokenizer.h"
#include "../text/prompt_chunks.h"
#include "../text/prompt_schedule.h"
#include "sd_model.h"
#include "textual_inversion.h"

namespace sdgimp::pipeline {

struct TextSettings {
    text::EmphasisMode emphasis = text::EmphasisMode::kOriginal;
    int clip_skip = 1;
    bool old_prompt_editing = false;  // A1111's "Use old prompt editing timelines"
    sampling::Guidance::Pad pad_conds = sampling::Guidance::Pad::kNone;  // A1111's "Pad prompt/negative prompt"
    std::shared_ptr<bool> padded_conds;  // set when a guided call padded them
    std::shared_ptr<bool> ngms_skipped;  // set when a guided call skipped its uncond pass for NGMS
    const TextualInversions* embeddings = nullptr;  // words the prompts may use as embeddings
};

// Multiplies the encoder output by the per-token weights; "Original" then restores the mean of the
// whole batch, "No norm" does not, "Ignore"/"None" leave z as it is. multipliers: (B, T) float32.
torch::Tensor apply_emphasis(const torch::Tensor& z, const torch::Tensor& multipliers, text::EmphasisMode mode);

// The chunks of several texts as one batch: [chunk position][text]; texts with fewer chunks are
// padded with empty chunks.
std::vector<std::vector<text::PromptChunk>> batch_chunks(const text::ClipTokenizer& tok,
                                                         const std::vector<std::string>& texts,
                                                         text::TokenizerFlavor flavor, text::EmphasisMode emphasis,
                                                         const std::vector<text::EmbeddingWord>* embeddings = nullptr);

// The chunks of several texts encoded as one batch (the texts of one schedule go together in A1111,
// which matters for the "Original" mean); shorter texts are padded with empty chunks.
// Returns (B, 77 * chunks, dim).
torch::Tensor encode_texts(const SDModel& m, const text::ClipTokenizer& tok, const std::vector<std::string>& texts,
                           const TextSettings& s);

// One prompt's schedule with its encodings: entry i is used up to model call ends[i].
struct ScheduledCond {
    std::vector<int> ends;
    torch::Tensor conds;  // (entries, tokens, dim)
    torch::Tensor at(int call) const;
};

ScheduledCond encode_schedule(const SDModel& m, const text::ClipTokenizer& tok, const text::PromptSchedule& sched,
                              const TextSettings& s);

// The whole conditioning of a run whose images share one prompt and one negative prompt.
struct RunConditioning {
    std::vector<std::pair<ScheduledCond, double>> positive;  // AND sub-prompts with weights
    ScheduledCond negative;
    int batch = 1;
    double cfg_scale = 7.0;
    sampling::Guidance::Pad pad = sampling::Guidance::Pad::kNone;  // with the empty prompt's encoding
    torch::Tensor empty;
    std::shared_ptr<bool> padded, ngms_skipped;
    // Guidance for the 0-based model call `call` (rows padded to one token length by repeating the
    // last vector, as A1111's reconstruct_multicond_batch does).
    sampling::Guidance at(int call) const;
};

// The encodings of the last few prompt schedules, each reused while its text and what shapes its
// encoding are unchanged: users re-run a prompt with new seeds, sweep steps or CFG, and edit the
// prompt while the negative prompt stays (A1111 keeps its last cond and uncond apart for this).
struct ConditioningCache {
    static constexpr size_t kCapacity = 8;
    std::deque<std::pair<std::string, ScheduledCond>> entries;  // most recently used first
    int hits = 0, misses = 0;                                    // schedule encodings reused / computed
};

// steps: the schedule's step count (A1111 doubles it for second-order samplers); hires_steps: the
// hires pass's, whose schedules A1111 places after the first pass's steps.
RunConditioning encode_run(const SDModel& m, const text::ClipTokenizer& tok, const std::string& prompt,
                           const std::string& negative_prompt, int steps, int batch, double cfg_scale,
                           const TextSettings& s, std::optional<int> hires_steps = std::nullopt);

// encode_run with each prompt schedule's encoding taken from the cache where it is there (nullptr:
// no caching).
std::shared_ptr<const RunConditioning> encode_run_cached(ConditioningCache* cache, const SDModel& m,
                                                         const text::ClipTokenizer& tok, const std::string& prompt,
                                                         const std::string& negative_prompt, int steps, int batch,
                                                         double cfg_scale, const TextSettings& s,
                                                         std::optional<int> hires_steps = std::nullopt);

}  // namespace sdgimp::pipeline
