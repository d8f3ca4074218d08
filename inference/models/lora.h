// LoRA networks as A1111's built-in Lora extension applies them: a <lora:name:te:unet:dyn> call
// adds multiplier * scale * (up @ down) to the weights of the layers its file names (kohya's
// diffusers-style names converted to the checkpoint's own), and a later run with other calls puts
// the original weights back first. The loaded weights themselves are never written to (they view
// the mapped checkpoint): a changed layer holds a new tensor, the original kept for restore().
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "fp8_weights.h"
#include "latent_diffusion.h"

namespace sdgimp::models {

// One call of a prompt, resolved to its file.
struct LoraCall {
    std::string name;  // as written in the prompt
    std::string path;
    double te = 1.0, unet = 1.0;  // A1111's te / unet multipliers (unet defaults to te)
    int dyn = -1;                 // A1111's "dyn": the first ranks only; -1 all
    bool operator==(const LoraCall& o) const {
        return path == o.path && te == o.te && unet == o.unet && dyn == o.dyn && name == o.name;
    }
};

// A1111's name of the layer a LoRA key addresses, before the ".lora_up.weight" part: kohya's
// diffusers names ("lora_unet_down_blocks_0_attentions_0_proj_in", "lora_te_text_model_encoder_
// layers_3_mlp_fc1") become the checkpoint's module path with '_' for '.'
// ("diffusion_model_input_blocks_1_1_proj_in"); names it does not know come back unchanged.
std::string lora_layer_name(const std::string& key, bool sd2);

// What applying one call did.
struct LoraResult {
    int layers = 0;    // layers changed
    std::string hash;  // A1111's "Lora hashes" value: the file's "sshs_model_hash" metadata, else the
                       // SHA-256 of a .safetensors file's tensor data (the "addnet" hash) or of a
                       // whole .pt/.ckpt, first 12 digits
};

class LoraWeights {
public:
    // The calls' networks on `net` (SD 2.x: OpenCLIP's text layers), after the originals of any
    // earlier set are back: LoRA/LoCon, LyCORIS LoHa, LoKr, IA3, GLoRA, full and norm-layer
    // differences, OFT and BOFT (kohya's and LyCORIS's), each with or without DoRA, as A1111 1.10
    // merges them. Throws sdgimp::Error naming a file that cannot be read or holds layers of other
    // shapes (a network of another model family).
    // Under FP8 weight (`fp8` holding rounded layers) a changed layer is rounded again, as A1111
    // copies the merged weight into its float8 one; with `cache_fp16` (A1111's "Cache FP16 weight
    // for LoRA") each network starts from the layer's unrounded weight in float16 instead of the
    // rounded one (so that, as there, the last network on a layer replaces the earlier ones).
    std::vector<LoraResult> apply(LatentDiffusion& net, const std::vector<LoraCall>& calls, bool sd2,
                                  const Fp8Weights* fp8 = nullptr, bool cache_fp16 = false);
    // Every changed weight back to the tensor it had.
    void restore();
    const std::vector<LoraCall>& applied() const { return applied_; }
    const std::vector<std::string>& applied_hashes() const { return hashes_; }  // one per applied() call

private:
    std::vector<LoraResult> apply_all(LatentDiffusion& net, const std::vector<LoraCall>& calls, bool sd2, const Fp8Weights* fp8,
                                      bool cache_fp16);
    std::vector<std::pair<torch::Tensor, torch::Tensor>> saved_;  // parameter, its original data
    std::vector<LoraCall> applied_;
    std::vector<std::string> hashes_;
};

}  // namespace sdgimp::models
