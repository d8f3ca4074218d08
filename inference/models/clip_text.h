// The two CLIP text towers SD uses, with module trees that mirror their checkpoint keys:
// OpenCLIP ViT-H (SD 2.x, under cond_stage_model.model) and HF CLIPTextModel (SD 1.x, under
// cond_stage_model.transformer.text_model).
#pragma once

#include <torch/torch.h>

#include "../model_config.h"
#include "module_slots.h"

namespace sdgimp::models {

// ---- OpenCLIP -------------------------------------------------------------------------------
struct OpenClipAttentionImpl : torch::nn::Module {
    OpenClipAttentionImpl(int64_t width, int64_t heads);
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask);
    torch::Tensor in_proj_weight, in_proj_bias;
    Linear out_proj{nullptr};
    int64_t heads;
};
TORCH_MODULE(OpenClipAttention);

struct OpenClipBlockImpl : torch::nn::Module {
    OpenClipBlockImpl(int64_t width, int64_t heads, int64_t mlp);
    torch::Tensor forward(torch::Tensor x, const torch::Tensor& mask);
    torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
    OpenClipAttention attn{nullptr};
    Linear c_fc{nullptr}, c_proj{nullptr};
};
TORCH_MODULE(OpenClipBlock);

// A textual-inversion embedding's vectors in place of the token vectors of row `row` from
// position `offset` (of the 77) on, before the positions are added (A1111's EmbeddingsWithFixes).
struct TokenFix {
    int64_t row = 0, offset = 0;
    torch::Tensor vectors;  // (n, width)
};

// The token table's vectors for ids with the fixes put in.
torch::Tensor token_vectors(Embedding& table, const torch::Tensor& ids, const std::vector<TokenFix>& fixes,
                            const torch::Tensor& like);

struct OpenClipTextImpl : torch::nn::Module {
    explicit OpenClipTextImpl(const TextConfig& c);
    // ids (B, 77) int64 -> hidden states after `layers_to_run` blocks and ln_final
    torch::Tensor forward(const torch::Tensor& ids, int64_t layers_to_run, const std::vector<TokenFix>& fixes = {});
    Embedding token_embedding{nullptr};
    torch::Tensor positional_embedding, text_projection, logit_scale;
    torch::nn::ModuleList resblocks;
    torch::nn::LayerNorm ln_final{nullptr};
    TextConfig cfg;
};
TORCH_MODULE(OpenClipText);

// ---- HF CLIP --------------------------------------------------------------------------------
struct HfClipAttentionImpl : torch::nn::Module {
    HfClipAttentionImpl(int64_t width, int64_t heads);
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask);
    Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};
    int64_t heads;
};
TORCH_MODULE(HfClipAttention);

struct HfClipLayerImpl : torch::nn::Module {
    HfClipLayerImpl(int64_t width, int64_t heads, int64_t mlp);
    torch::Tensor forward(torch::Tensor x, const torch::Tensor& mask);
    HfClipAttention self_attn{nullptr};
    torch::nn::LayerNorm layer_norm1{nullptr}, layer_norm2{nullptr};
    Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(HfClipLayer);

struct HfClipTextImpl : torch::nn::Module {
    explicit HfClipTextImpl(const TextConfig& c);
    // ids (B, 77) -> final_layer_norm(hidden state after `layers_to_run` layers)
    torch::Tensor forward(const torch::Tensor& ids, int64_t layers_to_run, const std::vector<TokenFix>& fixes = {});
    Embedding token_embedding{nullptr}, position_embedding{nullptr};
    torch::Tensor position_ids;
    torch::nn::ModuleList layers;
    torch::nn::LayerNorm final_layer_norm{nullptr};
    TextConfig cfg;
};
TORCH_MODULE(HfClipText);

// Either tower behind one interface; registered so that keys read cond_stage_model.<...>.
struct TextEncoderImpl : torch::nn::Module {
    explicit TextEncoderImpl(const TextConfig& c);
    // clip_skip: 1 = the family's default layer (last for SD 1.x, penultimate for SD 2.x);
    // n > 1 skips n-1 further layers, as A1111's "Clip skip".
    torch::Tensor forward(const torch::Tensor& ids, int clip_skip = 1, const std::vector<TokenFix>& fixes = {});
    // Moves what a GPU would hold for nothing back to host memory: the token table (one row per
    // token is read; 0.09 GiB of OpenCLIP-H in half precision) and, for OpenCLIP with the
    // penultimate layer, the last block, which never runs. forward() then looks the tokens up on
    // the host and carries them to the device.
    void keep_on_host();
    OpenClipText open_clip{nullptr};
    HfClipText hf{nullptr};
    TextConfig cfg;
};
TORCH_MODULE(TextEncoder);

torch::Tensor causal_mask(int64_t n, const torch::TensorOptions& opts);

}  // namespace sdgimp::models
