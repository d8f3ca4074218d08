// A small random LoRA that fits a model's layout, for tests of networks on its weights.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "io/safetensors_writer.h"
#include "model_config.h"
#include "pipeline/sd_model.h"

namespace sdgimp::test {

// A LoRA for `m`'s layout in kohya's names: a UNet attention projection, a 3x3 ResBlock
// convolution (LoCon), the first block's input projection and the first text layer (all four of
// OpenCLIP's attention projections on SD 2.x), rank 2, random values; alpha on some layers.
struct SyntheticLora {
    std::vector<io::FloatTensor> tensors;
    // Per changed parameter (its path in the model): the expected change for multiplier 1.
    std::vector<std::pair<std::string, torch::Tensor>> changes;
};

inline SyntheticLora synthetic_lora(pipeline::SDModel& m) {
    SyntheticLora out;
    const bool sd2 = m.cfg.text.kind == TextEncoderKind::kOpenCLIP;
    torch::manual_seed(5);
    auto params = m.net->named_parameters(true);
    auto add = [&](const std::string& kohya, const std::string& param, int64_t row0, int64_t rows, bool with_alpha) {
        const torch::Tensor w = params[param].slice(0, row0, row0 + rows);
        const int64_t r = 2, in = w.size(1);
        const bool conv = w.dim() == 4;
        torch::Tensor down = conv ? torch::randn({r, in, w.size(2), w.size(3)}) : torch::randn({r, in});
        torch::Tensor up = conv ? torch::randn({rows, r, 1, 1}) : torch::randn({rows, r});
        down *= 0.05;
        up *= 0.05;
        auto put = [&](const std::string& k, const torch::Tensor& t) {
            const torch::Tensor c = t.contiguous();
            out.tensors.push_back({k, c.sizes().vec(), std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel())});
        };
        put(kohya + ".lora_down.weight", down);
        put(kohya + ".lora_up.weight", up);
        const double scale = with_alpha ? 0.5 : 1.0;
        if (with_alpha) put(kohya + ".alpha", torch::full({}, 1.0f));  // alpha 1 over rank 2
        out.changes.emplace_back(param + "#" + std::to_string(row0), torch::matmul(up.reshape({rows, -1}), down.reshape({r, -1})).reshape(w.sizes()) * scale);
    };
    const std::string u = "model.diffusion_model.";
    add("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", u + "input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight", 0,
        params[u + "input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight"].size(0), true);
    add("lora_unet_down_blocks_0_resnets_0_conv1", u + "input_blocks.1.0.in_layers.2.weight", 0, params[u + "input_blocks.1.0.in_layers.2.weight"].size(0), false);
    add("lora_unet_down_blocks_0_attentions_0_proj_in", u + "input_blocks.1.1.proj_in.weight", 0, params[u + "input_blocks.1.1.proj_in.weight"].size(0), true);
    if (sd2) {
        const std::string a = "cond_stage_model.model.transformer.resblocks.0.attn.";
        const int64_t width = m.cfg.text.width;
        add("lora_te_text_model_encoder_layers_0_self_attn_q_proj", a + "in_proj_weight", 0, width, true);
        add("lora_te_text_model_encoder_layers_0_self_attn_k_proj", a + "in_proj_weight", width, width, false);
        add("lora_te_text_model_encoder_layers_0_self_attn_v_proj", a + "in_proj_weight", 2 * width, width, true);
        add("lora_te_text_model_encoder_layers_0_self_attn_out_proj", a + "out_proj.weight", 0, width, false);
        add("lora_te_text_model_encoder_layers_0_mlp_fc1", "cond_stage_model.model.transformer.resblocks.0.mlp.c_fc.weight", 0, m.cfg.text.mlp, true);
    } else {
        const std::string l = "cond_stage_model.transformer.text_model.encoder.layers.0.";
        add("lora_te_text_model_encoder_layers_0_self_attn_q_proj", l + "self_attn.q_proj.weight", 0, m.cfg.text.width, true);
        add("lora_te_text_model_encoder_layers_0_mlp_fc1", l + "mlp.fc1.weight", 0, m.cfg.text.mlp, false);
    }
    return out;
}

}  // namespace sdgimp::test
