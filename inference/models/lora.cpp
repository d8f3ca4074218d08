#include "lora.h"

#include <map>
#include <optional>
#include <regex>
#include <set>

#include "../io/checkpoint_file.h"
#include "../io/model_hash.h"
#include "../io/sha256.h"
#include "../status.h"
#include "clip_text.h"
#include "module_slots.h"
#include "state_loader.h"

namespace sdgimp::models {
namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

std::string replaced(std::string s, const std::string& from, const std::string& to) {
    const size_t at = s.find(from);
    return at == std::string::npos ? s : s.replace(at, from.size(), to);
}

// The diffusers names of a resnet's layers in the original UNet's ResBlock.
std::string resnet_part(const std::string& s) {
    static const std::map<std::string, std::string> kParts = {
        {"conv1", "in_layers_2"}, {"conv2", "out_layers_3"}, {"norm1", "in_layers_0"},
        {"norm2", "out_layers_0"}, {"time_emb_proj", "emb_layers_1"}, {"conv_shortcut", "skip_connection"}};
    const auto it = kParts.find(s);
    return it == kParts.end() ? s : it->second;
}

enum class Kind { kLinear, kConv, kAttention, kNorm };

struct Layer {
    Kind kind;
    torch::nn::Module* module;
};

// A1111's names of the layers a network can change ('_' for '.'), relative to the UNet's "model"
// and to the text encoder ("cond_stage_model"), as its network_layer_mapping has them.
std::map<std::string, Layer> layers_of(LatentDiffusion& net) {
    std::map<std::string, Layer> out;
    for (const auto& item : net->named_modules("", false)) {
        std::string name = item.key();
        if (starts_with(name, "model.")) name = name.substr(6);
        else if (starts_with(name, "cond_stage_model.")) name = name.substr(17);
        else continue;
        for (char& c : name)
            if (c == '.') c = '_';
        torch::nn::Module* m = item.value().get();
        if (dynamic_cast<LinearImpl*>(m)) out[name] = {Kind::kLinear, m};
        else if (dynamic_cast<Conv2dImpl*>(m)) out[name] = {Kind::kConv, m};
        else if (dynamic_cast<OpenClipAttentionImpl*>(m)) out[name] = {Kind::kAttention, m};
        else if (dynamic_cast<torch::nn::GroupNormImpl*>(m) || dynamic_cast<torch::nn::LayerNormImpl*>(m)) out[name] = {Kind::kNorm, m};
    }
    return out;
}

// One layer's network from a file: a LoRA/LoCon pair (up, down, optional CP core), or LyCORIS's
// LoHa (two low-rank pairs multiplied element by element), LoKr (a Kronecker product), IA3 (a
// scale per output or input), GLoRA (W a2 a1 + b2 b1), a full difference (diff, diff_b), a norm
// layer's difference (w_norm, b_norm) or OFT (orthogonal blocks turning the weight's rows).
struct Pair {
    torch::Tensor up, down, mid;
    torch::Tensor ia3, diff, diff_b, w_norm, b_norm;
    torch::Tensor oft, rescale;  // OFT/BOFT: kohya's and new LyCORIS's oft_blocks, or old LyCORIS's oft_diag
    bool oft_diag = false;       // oft holds the rotations themselves, not their skew-symmetric source
    bool on_input = false;  // IA3: the scale is per input column
    torch::Tensor dora_scale;  // DoRA: the merged weight's column norms are set to these
    std::map<std::string, torch::Tensor> lyco;  // "hada_w1_a", "lokr_w2", ... as the file names them
    std::optional<double> alpha, scale;
    std::string key;  // the file's name of it, for messages
    bool has(const char* part) const { return lyco.count(part) > 0; }
    const torch::Tensor& at(const char* part) const { return lyco.at(part); }
    bool is_loha() const { return has("hada_w1_a") && has("hada_w1_b") && has("hada_w2_a") && has("hada_w2_b"); }
    bool is_lokr() const {
        return (has("lokr_w1") || (has("lokr_w1_a") && has("lokr_w1_b"))) && (has("lokr_w2") || (has("lokr_w2_a") && has("lokr_w2_b")));
    }
    bool is_glora() const { return has("a1.weight") && has("a2.weight") && has("b1.weight") && has("b2.weight"); }
    bool complete() const {
        return (up.defined() && down.defined() && up.dim() >= 2 && down.dim() >= 2) || is_loha() || is_lokr() || is_glora() ||
               ia3.defined() || diff.defined() || (w_norm.defined() && b_norm.defined()) || oft.defined();
    }
    torch::Tensor bias_change() const { return diff_b.defined() ? diff_b : b_norm; }
};

torch::Tensor as_matrix(const torch::Tensor& t) { return t.reshape({t.size(0), -1}); }

// LyCORIS's CP reconstruction (A1111's lyco_helpers.make_weight_cp): core (r, r, k, k) between
// wa (r, out) and wb (r, in).
torch::Tensor cp_weight(const torch::Tensor& core, const torch::Tensor& wa, const torch::Tensor& wb) {
    const auto temp = torch::einsum("ijkl,jr->irkl", {core, wb});
    return torch::einsum("ijkl,ir->rjkl", {temp, wa});
}

// A1111's OFT/BOFT (network_oft.py, 1.10): each block of the weight's rows turned by a rotation,
// R = (I + Q)(I - Q)^-1 with Q the skew-symmetric part of the file's block (its norm clamped to
// alpha * rows when alpha is given), or the file's block itself for old LyCORIS's oft_diag; BOFT's
// 4-D blocks turn the rows stage by stage through butterfly permutations. The change is the turned
// weight (times "rescale" per row) less the original.
torch::Tensor oft_updown(const Pair& p, const torch::Tensor& weight, const std::string& file) {
    const torch::Tensor w = weight.detach().to(torch::kCPU, torch::kFloat);
    const int64_t rows = w.size(0);
    const torch::Tensor& blocks = p.oft;
    const bool boft = !p.oft_diag && blocks.dim() == 4;
    auto damaged = [&](const std::string& why) {
        throw_bad_file(file, "holds " + p.key + (p.oft_diag ? ".oft_diag" : ".oft_blocks") + " of shape " +
                                 io::shape_text(blocks.sizes().vec()) + ", " + why + " for a layer of " +
                                 io::shape_text(w.sizes().vec()) + "; it is a network for another model family (SD 1.x, 2.x, XL).");
    };
    if (blocks.dim() != (boft ? 4 : 3) || blocks.size(-1) != blocks.size(-2) || blocks.size(-1) == 0 || blocks.size(-3) == 0)
        damaged("not a stack of square blocks");
    const int64_t num_blocks = p.oft_diag ? rows / blocks.size(1) : boft ? blocks.size(1) : blocks.size(0);
    const int64_t size = p.oft_diag ? blocks.size(1) : boft ? blocks.size(2) : rows / num_blocks;
    if (num_blocks * size != rows || blocks.size(-1) != size || blocks.size(-3) != num_blocks) damaged("whose blocks do not tile the rows");
    torch::Tensor R = blocks;
    if (!p.oft_diag) {
        const torch::Tensor eye = torch::eye(size);
        torch::Tensor Q = blocks - blocks.transpose(-1, -2);
        if (p.alpha && *p.alpha * static_cast<double>(rows) != 0) {
            const torch::Tensor norm = Q.flatten().norm();
            const torch::Tensor clamped = torch::clamp(norm, c10::nullopt, static_cast<float>(*p.alpha) * static_cast<float>(rows));
            Q = Q * ((clamped + 1e-8) / (norm + 1e-8));
        }
        R = torch::matmul(eye + Q, torch::inverse(eye - Q));
    }
    torch::Tensor merged;
    const auto flat = w.reshape({rows, -1});
    if (!boft) {
        merged = torch::einsum("knm,knx->kmx", {R, flat.reshape({num_blocks, size, -1})}).reshape({rows, -1});
    } else {
        // Stage i pairs rows 2^i * size/2 apart: regroup them into neighbouring blocks, turn, put back.
        const int64_t half = size / 2, cols = flat.size(1);
        merged = flat;
        for (int64_t i = 0; i < blocks.size(0); ++i) {
            const int64_t k = (int64_t{1} << std::min<int64_t>(i, 40)) * half;
            if (k == 0 || rows % (2 * k) != 0) damaged("whose butterfly stages do not divide the rows");
            const auto grouped = merged.reshape({rows / (2 * k), 2, k, cols}).permute({0, 2, 1, 3}).reshape({num_blocks, size, cols});
            const auto turned = torch::einsum("bij,bjx->bix", {R[i], grouped});
            merged = turned.reshape({rows / (2 * k), k, 2, cols}).permute({0, 2, 1, 3}).reshape({rows, cols});
        }
    }
    if (p.rescale.defined()) {
        if (p.rescale.numel() != rows) damaged("with " + std::to_string(p.rescale.numel()) + " rescale factors");
        merged = merged * p.rescale.reshape({rows, 1});
    }
    return merged.reshape(w.sizes()) - w;
}

// A1111's calc_updown of each kind, before the scale: the change in its own shape, and the rank
// A1111 divides alpha by (none for a LoKr of whole matrices, whose alpha it ignores).
torch::Tensor raw_updown(const Pair& p, const torch::Tensor& weight, bool conv, int dyn, const std::string& file,
                         std::optional<int64_t>* rank) {
    auto check_rank = [&](const torch::Tensor& u, const torch::Tensor& v, const char* what) {
        if (u.dim() < 2 || v.dim() < 1 || u.size(1) != v.size(0))
            throw_bad_file(file, "holds " + p.key + " whose " + what + " factors do not fit together (" + io::shape_text(u.sizes().vec()) +
                                     " and " + io::shape_text(v.sizes().vec()) + "); the file is damaged.");
    };
    if (p.is_loha()) {
        const auto &w1a = p.at("hada_w1_a"), &w1b = p.at("hada_w1_b"), &w2a = p.at("hada_w2_a"), &w2b = p.at("hada_w2_b");
        *rank = w1b.size(0);
        std::vector<int64_t> shape = {w1a.size(0), w1b.size(1)};
        torch::Tensor d1, d2;
        if (p.has("hada_t1")) {
            const auto& t1 = p.at("hada_t1");
            shape = {w1a.size(1), w1b.size(1)};
            for (int64_t i = 2; i < t1.dim(); ++i) shape.push_back(t1.size(i));
            d1 = cp_weight(t1, w1a, w1b);
        } else {
            for (int64_t i = 2; i < w1b.dim(); ++i) shape.push_back(w1b.size(i));
            check_rank(as_matrix(w1a), as_matrix(w1b), "first pair's");
            d1 = torch::matmul(as_matrix(w1a), as_matrix(w1b)).reshape(shape);
        }
        if (p.has("hada_t2")) {
            d2 = cp_weight(p.at("hada_t2"), w2a, w2b);
        } else {
            check_rank(as_matrix(w2a), as_matrix(w2b), "second pair's");
            const auto m = torch::matmul(as_matrix(w2a), as_matrix(w2b));
            int64_t n = 1;
            for (int64_t v : shape) n *= v;
            if (m.numel() != n)
                throw_bad_file(file, "holds " + p.key + " whose two LoHa pairs make differently shaped changes; the file is damaged.");
            d2 = m.reshape(shape);
        }
        if (d1.sizes() != d2.sizes())
            throw_bad_file(file, "holds " + p.key + " whose two LoHa pairs make differently shaped changes; the file is damaged.");
        return d1 * d2;
    }
    if (p.is_lokr()) {
        torch::Tensor w1, w2;
        if (p.has("lokr_w1_b")) *rank = p.at("lokr_w1_b").size(0);
        if (p.has("lokr_w2_b")) *rank = p.at("lokr_w2_b").size(0);
        if (p.has("lokr_w1")) {
            w1 = p.at("lokr_w1");
        } else {
            check_rank(p.at("lokr_w1_a"), p.at("lokr_w1_b"), "first");
            w1 = torch::matmul(p.at("lokr_w1_a"), p.at("lokr_w1_b"));
        }
        if (p.has("lokr_w2")) {
            w2 = p.at("lokr_w2");
        } else if (p.has("lokr_t2")) {
            w2 = cp_weight(p.at("lokr_t2"), p.at("lokr_w2_a"), p.at("lokr_w2_b"));
        } else {
            check_rank(as_matrix(p.at("lokr_w2_a")), as_matrix(p.at("lokr_w2_b")), "second");
            w2 = torch::matmul(as_matrix(p.at("lokr_w2_a")), as_matrix(p.at("lokr_w2_b")));
        }
        if (w1.dim() != 2 || (w2.dim() != 2 && w2.dim() != 4))
            throw_bad_file(file, "holds " + p.key + " with LoKr factors of shapes " + io::shape_text(w1.sizes().vec()) + " and " +
                                     io::shape_text(w2.sizes().vec()) + "; the file is damaged.");
        if (w2.dim() == 4) w1 = w1.unsqueeze(2).unsqueeze(2);
        auto k = torch::kron(w1, w2.contiguous());
        if (weight.dim() == 4 && k.numel() == weight.numel()) return k.reshape(weight.sizes());
        return k.reshape({w1.size(0) * w2.size(0), -1});
    }
    if (p.oft.defined()) return oft_updown(p, weight, file);
    if (p.diff.defined()) return p.diff;  // the change itself
    if (p.w_norm.defined()) return p.w_norm;
    if (p.ia3.defined() || p.is_glora()) {
        // Both scale the layer's own weight: A1111 applies them to linear layers.
        if (weight.dim() != 2)
            throw_bad_file(file, "holds " + p.key + ", an IA3 or GLoRA network on a convolution, which this engine does not apply; use a LoRA file.");
        const torch::Tensor w = weight.detach().to(torch::kCPU, torch::kFloat);
        if (p.is_glora()) {
            const auto &a1 = p.at("a1.weight"), &a2 = p.at("a2.weight"), &b1 = p.at("b1.weight"), &b2 = p.at("b2.weight");
            check_rank(as_matrix(b2), as_matrix(b1), "GLoRA b");
            check_rank(w, as_matrix(a2), "GLoRA a2");
            check_rank(as_matrix(a2), as_matrix(a1), "GLoRA a");
            return torch::matmul(as_matrix(b2), as_matrix(b1)) + torch::matmul(torch::matmul(w, as_matrix(a2)), as_matrix(a1));
        }
        const torch::Tensor s = p.ia3.reshape({-1});
        if (s.size(0) != w.size(p.on_input ? 1 : 0))
            throw_bad_file(file, "holds " + p.key + " with " + std::to_string(s.size(0)) + " IA3 scales for a layer of " +
                                     io::shape_text(w.sizes().vec()) + "; it is a network for another model family (SD 1.x, 2.x, XL).");
        return p.on_input ? w * s : w * s.reshape({-1, 1});
    }
    torch::Tensor up = p.up, down = p.down;
    if (conv && down.dim() == 2) down = down.reshape({down.size(0), down.size(1), 1, 1});
    *rank = p.down.size(0);
    std::vector<int64_t> shape = {up.size(0), down.size(1)};
    if (p.mid.defined()) {
        // LoCon's CP decomposition: a k x k core between the two projections.
        for (int64_t i = 2; i < p.mid.dim(); ++i) shape.push_back(p.mid.size(i));
        return torch::einsum("nmkl,in,mj->ijkl", {p.mid, as_matrix(up), as_matrix(down)});
    }
    if (down.dim() == 4)
        for (int64_t i = 2; i < 4; ++i) shape.push_back(down.size(i));
    torch::Tensor u = as_matrix(up), v = as_matrix(down);
    if (u.size(1) != v.size(0))
        throw_bad_file(file, "holds " + p.key + " with an up projection of rank " + std::to_string(u.size(1)) +
                                 " and a down projection of rank " + std::to_string(v.size(0)) + "; the file is damaged.");
    if (dyn > 0) {
        u = u.slice(1, 0, dyn);
        v = v.slice(0, 0, dyn);
    }
    return torch::matmul(u, v).reshape(shape);
}

// A1111's calc_updown + finalize_updown: the change in the target's shape, times the network's scale
// (its "scale", else alpha / rank) and the call's multiplier.
torch::Tensor delta(const Pair& p, const torch::Tensor& weight, bool conv, int dyn, double multiplier, const std::string& file) {
    std::optional<int64_t> rank;
    torch::Tensor d;
    try {
        d = raw_updown(p, weight, conv, dyn, file, &rank);
    } catch (const c10::Error&) {
        // Factors whose shapes LibTorch cannot combine (a CP core of another rank, a 3-D factor, ...).
        throw_bad_file(file, "holds " + p.key + " whose tensors do not fit together; the file is damaged.");
    }
    if (d.numel() == weight.numel()) d = d.reshape(weight.sizes());
    // Inpainting UNets take 9 input channels; networks trained for 4 leave the other 5 alone.
    if (weight.dim() == 4 && weight.size(1) == 9 && d.dim() == 4 && d.size(1) == 4)
        d = torch::nn::functional::pad(d, torch::nn::functional::PadFuncOptions({0, 0, 0, 0, 0, 5}));
    if (d.sizes() != weight.sizes())
        throw_bad_file(file, "changes " + p.key + " by " + io::shape_text(d.sizes().vec()) + " where the model's layer is " +
                                 io::shape_text(weight.sizes().vec()) + "; it is a LoRA for another model family (SD 1.x, 2.x, XL).");
    // OFT's multiplier scales the change alone: A1111 sets its scale to 1 whatever the file says.
    const double scale = p.oft.defined() ? 1.0
                         : p.scale        ? *p.scale
                         : (p.alpha && rank && *rank > 0) ? *p.alpha / static_cast<double>(*rank)
                                                          : 1.0;
    d = d * scale;
    if (p.dora_scale.defined() && weight.dim() < 2)
        throw_bad_file(file, "holds " + p.key + ".dora_scale for a layer without input columns; the file is damaged.");
    if (p.dora_scale.defined()) {
        // DoRA as A1111 applies it: the scaled change merged, each input column's norm (over all
        // other axes) replaced by the file's magnitude, the original taken off again; then the multiplier.
        const torch::Tensor w = weight.detach().to(torch::kCPU, torch::kFloat);
        const torch::Tensor merged = w + d;
        std::vector<int64_t> norm_shape(static_cast<size_t>(w.dim()), 1);
        norm_shape[1] = w.size(1);
        const torch::Tensor norm = merged.transpose(0, 1).reshape({w.size(1), -1}).norm(2, {1}, true).reshape(norm_shape);
        try {
            d = merged * (p.dora_scale / norm) - w;
        } catch (const c10::Error&) {
            throw_bad_file(file, "holds " + p.key + ".dora_scale of shape " + io::shape_text(p.dora_scale.sizes().vec()) +
                                     ", which does not fit the layer's " + io::shape_text(weight.sizes().vec()) + "; the file is damaged.");
        }
    }
    return d * multiplier;
}

std::string short_hash(const io::CheckpointFile& ck) {
    if (const auto it = ck.metadata.find("sshs_model_hash"); it != ck.metadata.end() && !it->second.empty())
        return it->second.substr(0, 12);
    const auto addnet = io::addnet_hash(*ck.file);
    return (addnet ? *addnet : io::sha256_hex(ck.file->data(), ck.file->size())).substr(0, 12);
}

}  // namespace

std::string lora_layer_name(const std::string& key, bool sd2) {
    std::smatch m;
    // Compiled once: a file names hundreds of layers.
    static const std::regex kConvIn(R"(lora_unet_conv_in(.*))");
    static const std::regex kConvOut(R"(lora_unet_conv_out(.*))");
    static const std::regex kTimeEmbed(R"(lora_unet_time_embedding_linear_(\d{1,3})(.*))");
    static const std::regex kDownBlock(R"(lora_unet_down_blocks_(\d{1,3})_(attentions|resnets)_(\d{1,3})_(.+))");
    static const std::regex kMidBlock(R"(lora_unet_mid_block_(attentions|resnets)_(\d{1,3})_(.+))");
    static const std::regex kUpBlock(R"(lora_unet_up_blocks_(\d{1,3})_(attentions|resnets)_(\d{1,3})_(.+))");
    static const std::regex kDownsample(R"(lora_unet_down_blocks_(\d{1,3})_downsamplers_0_conv)");
    static const std::regex kUpsample(R"(lora_unet_up_blocks_(\d{1,3})_upsamplers_0_conv)");
    static const std::regex kTextLayer(R"(lora_te_text_model_encoder_layers_(\d{1,3})_(.+))");
    auto is = [&](const std::regex& re) { return std::regex_match(key, m, re); };
    auto num = [&](int i) { return std::stoi(m[i].str()); };
    if (is(kConvIn)) return "diffusion_model_input_blocks_0_0" + m[1].str();
    if (is(kConvOut)) return "diffusion_model_out_2" + m[1].str();
    if (is(kTimeEmbed)) return "diffusion_model_time_embed_" + std::to_string(num(1) * 2 - 2) + m[2].str();
    if (is(kDownBlock)) {
        const bool attn = m[2] == "attentions";
        return "diffusion_model_input_blocks_" + std::to_string(1 + num(1) * 3 + num(3)) + (attn ? "_1_" : "_0_") +
               (attn ? m[4].str() : resnet_part(m[4].str()));
    }
    if (is(kMidBlock)) {
        const bool attn = m[1] == "attentions";
        return "diffusion_model_middle_block_" + std::to_string(attn ? 1 : num(2) * 2) + "_" + (attn ? m[3].str() : resnet_part(m[3].str()));
    }
    if (is(kUpBlock)) {
        const bool attn = m[2] == "attentions";
        return "diffusion_model_output_blocks_" + std::to_string(num(1) * 3 + num(3)) + (attn ? "_1_" : "_0_") +
               (attn ? m[4].str() : resnet_part(m[4].str()));
    }
    if (is(kDownsample)) return "diffusion_model_input_blocks_" + std::to_string(3 + num(1) * 3) + "_0_op";
    if (is(kUpsample))
        return "diffusion_model_output_blocks_" + std::to_string(2 + num(1) * 3) + (num(1) > 0 ? "_2" : "_1") + "_conv";
    if (is(kTextLayer)) {
        const std::string rest = m[2].str();
        if (!sd2) return "transformer_text_model_encoder_layers_" + m[1].str() + "_" + rest;
        const std::string part = rest.find("mlp_fc1") != std::string::npos   ? replaced(rest, "mlp_fc1", "mlp_c_fc")
                                 : rest.find("mlp_fc2") != std::string::npos ? replaced(rest, "mlp_fc2", "mlp_c_proj")
                                                                             : replaced(rest, "self_attn", "attn");
        return "model_transformer_resblocks_" + m[1].str() + "_" + part;
    }
    return key;
}

std::vector<LoraResult> LoraWeights::apply(LatentDiffusion& net, const std::vector<LoraCall>& calls, bool sd2, const Fp8Weights* fp8,
                                           bool cache_fp16) {
    restore();
    try {
        return apply_all(net, calls, sd2, fp8, cache_fp16);
    } catch (...) {
        restore();  // a call that failed halfway leaves no layer changed
        throw;
    }
}

std::vector<LoraResult> LoraWeights::apply_all(LatentDiffusion& net, const std::vector<LoraCall>& calls, bool sd2, const Fp8Weights* fp8,
                                               bool cache_fp16) {
    torch::NoGradGuard ng;
    const std::map<std::string, Layer> layers = layers_of(net);
    std::set<const void*> kept;
    // The weight a network works on: the layer's own, or under FP8 weight with cache_fp16 its
    // unrounded one in float16.
    auto base = [&](const torch::Tensor& param) {
        const torch::Tensor* original = fp8 ? fp8->original_of(param) : nullptr;
        return original && cache_fp16 ? original->to(param.device()).to(torch::kHalf) : param.detach();
    };
    // The parameter gets a new tensor; its first one is kept for restore().
    auto replace = [&](torch::Tensor& param, const torch::Tensor& d) {
        const torch::Tensor w = param.detach();
        if (kept.insert(param.unsafeGetTensorImpl()).second) saved_.emplace_back(param, w);
        torch::Tensor merged = base(param).to(torch::kFloat) + d.to(w.device());
        if (fp8 && fp8->original_of(param)) merged = e4m3fn_rounded(merged);
        param.set_data(merged.to(w.scalar_type()).contiguous(w.suggest_memory_format()));
    };
    std::vector<LoraResult> results;
    for (const LoraCall& call : calls) {
        const io::CheckpointFile ck = io::open_checkpoint(call.path);
        LoraResult res;
        res.hash = short_hash(ck);
        // The file's keys by the layer they change (A1111's matching, fallbacks included).
        std::map<std::string, std::pair<const Layer*, Pair>> found;
        for (const auto& [key, raw] : ck.tensors) {
            const size_t dot = key.find('.');
            if (dot == std::string::npos) continue;
            const std::string base = key.substr(0, dot), part = key.substr(dot + 1);
            if (base == "bundle_emb") continue;  // textual-inversion embeddings bundled along
            std::string name = lora_layer_name(base, sd2);
            const Layer* layer = nullptr;
            if (auto it = layers.find(name); it != layers.end()) layer = &it->second;
            static const std::regex x_proj(R"((.*)_([qkv]_proj)$)");
            std::smatch m;
            if (!layer && std::regex_match(name, m, x_proj))
                if (auto it = layers.find(m[1].str()); it != layers.end()) layer = &it->second;
            if (!layer && base.find("lora_unet") != std::string::npos) {
                name = replaced(base, "lora_unet", "diffusion_model");
                if (auto it = layers.find(name); it != layers.end()) layer = &it->second;
            } else if (!layer && base.find("lora_te1_text_model") != std::string::npos) {
                name = replaced(base, "lora_te1_text_model", "transformer_text_model");
                if (auto it = layers.find(name); it != layers.end()) layer = &it->second;
            } else if (!layer && base.find("oft_unet") != std::string::npos) {
                // kohya's OFT names the original UNet's modules
                name = replaced(base, "oft_unet", "diffusion_model");
                if (auto it = layers.find(name); it != layers.end()) layer = &it->second;
            }
            if (!layer) continue;  // A1111 leaves keys it cannot place aside too
            auto& [target, pair] = found[name];
            target = layer;
            pair.key = base;
            const torch::Tensor t = to_torch(raw).to(torch::kFloat);
            if (part == "lora_up.weight" || part == "lora_B.weight") pair.up = t;
            else if (part == "lora_down.weight" || part == "lora_A.weight") pair.down = t;
            else if (part == "lora_mid.weight") pair.mid = t;
            else if (part == "alpha" && t.numel() == 1) pair.alpha = t.item<double>();
            else if (part == "scale" && t.numel() == 1) pair.scale = t.item<double>();
            else if (starts_with(part, "hada_") || starts_with(part, "lokr_")) pair.lyco[part] = t;
            else if (part == "dora_scale") pair.dora_scale = t;
            else if (part == "weight") pair.ia3 = t;
            else if (part == "on_input" && t.numel() == 1) pair.on_input = t.item<double>() != 0;
            else if (part == "diff") pair.diff = t;
            else if (part == "diff_b") pair.diff_b = t;
            else if (part == "w_norm") pair.w_norm = t;
            else if (part == "b_norm") pair.b_norm = t;
            else if (part == "oft_blocks" || part == "oft_diag") {
                pair.oft = t;
                pair.oft_diag = part == "oft_diag";
            } else if (part == "rescale") pair.rescale = t;
            else if (part == "a1.weight" || part == "a2.weight" || part == "b1.weight" || part == "b2.weight") pair.lyco[part] = t;
        }
        auto multiplier = [&](const std::string& name) {
            return name.substr(0, 20).find("transformer") != std::string::npos ? call.te : call.unet;
        };
        auto complete = [](const Pair& p) { return p.complete(); };
        // OpenCLIP's attention projections are the attention's own: q, k and v share one matrix.
        auto attention_at = [&](const std::string& name) -> const Layer* {
            if (name.size() <= 9 || name.compare(name.size() - 9, 9, "_out_proj") != 0) return nullptr;
            const auto it = layers.find(name.substr(0, name.size() - 9));
            return it != layers.end() && it->second.kind == Kind::kAttention ? &it->second : nullptr;
        };
        for (auto& [name, entry] : found) {
            const auto& [layer, pair] = entry;
            if (!complete(pair)) continue;
            // A full difference's or a norm layer's bias change: times the multiplier only (A1111's ex_bias).
            auto bias_change = [&](torch::Tensor& bias) {
                const torch::Tensor change = pair.bias_change();
                if (!change.defined()) return;
                if (!bias.defined() || change.numel() != bias.numel())
                    throw_bad_file(call.path, "holds " + pair.key + (pair.diff_b.defined() ? ".diff_b" : ".b_norm") + " for a layer " +
                                                  (bias.defined() ? "with another bias size" : "without a bias") +
                                                  "; it is a network for another model family (SD 1.x, 2.x, XL).");
                replace(bias, change.reshape(bias.sizes()) * multiplier(name));
            };
            if (layer->kind == Kind::kLinear && !attention_at(name)) {
                auto* l = static_cast<LinearImpl*>(layer->module);
                replace(l->weight, delta(pair, base(l->weight), false, call.dyn, multiplier(name), call.path));
                bias_change(l->bias);
                ++res.layers;
            } else if (layer->kind == Kind::kConv) {
                auto* c = static_cast<Conv2dImpl*>(layer->module);
                replace(c->weight, delta(pair, base(c->weight), true, call.dyn, multiplier(name), call.path));
                bias_change(c->bias);
                ++res.layers;
            } else if (layer->kind == Kind::kNorm) {
                // GroupNorm and LayerNorm scales take differences only (A1111 refuses other kinds there).
                if (!pair.w_norm.defined() && !pair.diff.defined())
                    throw_bad_file(call.path, "holds a low-rank or scaling network on the norm layer " + pair.key +
                                                  ", which A1111 does not apply either; the file is damaged.");
                torch::Tensor *weight = nullptr, *bias = nullptr;
                if (auto* g = dynamic_cast<torch::nn::GroupNormImpl*>(layer->module)) weight = &g->weight, bias = &g->bias;
                else if (auto* l = dynamic_cast<torch::nn::LayerNormImpl*>(layer->module)) weight = &l->weight, bias = &l->bias;
                if (!weight || !weight->defined()) continue;
                replace(*weight, delta(pair, *weight, false, call.dyn, multiplier(name), call.path));
                bias_change(*bias);
                ++res.layers;
            } else if (layer->kind == Kind::kAttention && name.compare(name.size() - 7, 7, "_q_proj") == 0) {
                // As A1111: changed only when the file has q, k, v and the output projection.
                const std::string at = name.substr(0, name.size() - 7);
                const char* suffix[4] = {"_q_proj", "_k_proj", "_v_proj", "_out_proj"};
                const Pair* parts[4] = {};
                for (int i = 0; i < 4; ++i)
                    if (auto it = found.find(at + suffix[i]); it != found.end() && complete(it->second.second)) parts[i] = &it->second.second;
                if (!parts[0] || !parts[1] || !parts[2] || !parts[3]) continue;
                auto* a = static_cast<OpenClipAttentionImpl*>(layer->module);
                const auto qkv = a->in_proj_weight.chunk(3, 0);
                std::vector<torch::Tensor> d;
                for (int i = 0; i < 3; ++i)
                    d.push_back(delta(*parts[i], qkv[static_cast<size_t>(i)], false, call.dyn, multiplier(at + suffix[i]), call.path));
                replace(a->in_proj_weight, torch::cat(d, 0));
                replace(a->out_proj->weight, delta(*parts[3], base(a->out_proj->weight), false, call.dyn, multiplier(at + suffix[3]), call.path));
                res.layers += 4;
            }
        }
        results.push_back(res);
        applied_.push_back(call);
        hashes_.push_back(res.hash);
    }
    return results;
}

void LoraWeights::restore() {
    torch::NoGradGuard ng;
    for (auto& [param, original] : saved_) param.set_data(original);
    saved_.clear();
    applied_.clear();
    hashes_.clear();
}

}  // namespace sdgimp::models
