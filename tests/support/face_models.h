// Small models in the layouts of the face restoration's release files (facexlib's RetinaFace and
// ParseNet, TencentARC's GFPGANv1Clean), random where it does not matter and set by hand where a
// test needs to know the answer, and a writer for them as .safetensors files.
#pragma once

#include <array>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "io/safetensors_writer.h"

namespace sdgimp::test {

using Map = std::map<std::string, torch::Tensor>;

inline torch::Tensor rnd(std::vector<int64_t> shape, double scale = 0.2) { return torch::randn(shape) * scale; }

inline void bn(Map& m, const std::string& p, int64_t c) {
    m[p + ".weight"] = torch::rand({c}) + 0.5;
    m[p + ".bias"] = rnd({c});
    m[p + ".running_mean"] = rnd({c});
    m[p + ".running_var"] = torch::rand({c}) + 0.5;
    m[p + ".num_batches_tracked"] = torch::zeros({}, torch::kLong);
}

inline void conv_bn(Map& m, const std::string& conv, const std::string& norm, int64_t out, int64_t in, int64_t k) {
    m[conv + ".weight"] = rnd({out, in, k, k});
    bn(m, norm, out);
}

// A narrow RetinaFace (pyramid of 16 channels, so facexlib's LeakyReLU 0.1 applies) with one block
// per ResNet stage. Heads: class biases `cls[level]` (two anchors x {not face, face}), box and
// landmark biases as given, head weights zero so every position of a level says the same.
inline Map small_retinaface(const std::array<std::array<float, 4>, 3>& cls, const std::array<float, 4>& box, const std::array<float, 10>& marks) {
    Map m;
    conv_bn(m, "body.conv1", "body.bn1", 8, 3, 7);
    const int64_t widths[4] = {4, 8, 8, 8}, outs[4] = {16, 32, 32, 32};
    int64_t in = 8;
    for (int l = 0; l < 4; ++l) {
        const std::string p = "body.layer" + std::to_string(l + 1) + ".0.";
        conv_bn(m, p + "conv1", p + "bn1", widths[l], in, 1);
        conv_bn(m, p + "conv2", p + "bn2", widths[l], widths[l], 3);
        conv_bn(m, p + "conv3", p + "bn3", outs[l], widths[l], 1);
        conv_bn(m, p + "downsample.0", p + "downsample.1", outs[l], in, 1);
        in = outs[l];
    }
    for (int k = 1; k <= 3; ++k) conv_bn(m, "fpn.output" + std::to_string(k) + ".0", "fpn.output" + std::to_string(k) + ".1", 16, outs[k], 1);
    for (int k = 1; k <= 2; ++k) conv_bn(m, "fpn.merge" + std::to_string(k) + ".0", "fpn.merge" + std::to_string(k) + ".1", 16, 16, 3);
    for (int k = 0; k < 3; ++k) {
        const std::string p = "ssh" + std::to_string(k + 1) + ".";
        conv_bn(m, p + "conv3X3.0", p + "conv3X3.1", 8, 16, 3);
        conv_bn(m, p + "conv5X5_1.0", p + "conv5X5_1.1", 4, 16, 3);
        conv_bn(m, p + "conv5X5_2.0", p + "conv5X5_2.1", 4, 4, 3);
        conv_bn(m, p + "conv7X7_2.0", p + "conv7X7_2.1", 4, 4, 3);
        conv_bn(m, p + "conv7x7_3.0", p + "conv7x7_3.1", 4, 4, 3);
        const std::string i = std::to_string(k);
        m["ClassHead." + i + ".conv1x1.weight"] = torch::zeros({4, 16, 1, 1});
        m["ClassHead." + i + ".conv1x1.bias"] = torch::tensor(std::vector<float>(cls[k].begin(), cls[k].end()));
        m["BboxHead." + i + ".conv1x1.weight"] = torch::zeros({8, 16, 1, 1});
        m["BboxHead." + i + ".conv1x1.bias"] = torch::tensor(std::vector<float>(box.begin(), box.end())).repeat({2});
        m["LandmarkHead." + i + ".conv1x1.weight"] = torch::zeros({20, 16, 1, 1});
        m["LandmarkHead." + i + ".conv1x1.bias"] = torch::tensor(std::vector<float>(marks.begin(), marks.end())).repeat({2});
    }
    return m;
}

inline const std::array<float, 4> kNoFace = {5, -5, 5, -5}, kFirstAnchorFace = {-5, 5, 5, -5};

// A ParseNet of 4-8 channels (two down and two up blocks, two body blocks); with `face_everywhere`
// every weight is zero and class 1 (skin) wins at every pixel.
inline Map small_parsenet(bool face_everywhere) {
    Map m;
    auto conv = [&](const std::string& p, int64_t out, int64_t in, bool norm) {
        m[p + "conv2d.weight"] = face_everywhere ? torch::zeros({out, in, 3, 3}) : rnd({out, in, 3, 3});
        if (norm) bn(m, p + "norm.norm", out);
        else m[p + "conv2d.bias"] = face_everywhere ? torch::zeros({out}) : rnd({out});
    };
    conv("encoder.0.", 4, 3, false);
    auto block = [&](const std::string& p, int64_t in, int64_t out, bool shortcut) {
        conv(p + "conv1.", out, in, true);
        conv(p + "conv2.", out, out, true);
        if (shortcut) conv(p + "shortcut_func.", out, in, false);
    };
    block("encoder.1.", 4, 8, true);
    block("encoder.2.", 8, 8, true);
    block("body.0.", 8, 8, false);
    block("body.1.", 8, 8, false);
    block("decoder.0.", 8, 8, true);
    block("decoder.1.", 8, 4, true);
    conv("out_img_conv.", 3, 4, false);
    conv("out_mask_conv.", 19, 4, false);
    if (face_everywhere) m["out_mask_conv.conv2d.bias"].index_put_({1}, 1.0f);
    return m;
}

// A GFPGANv1Clean of `levels` levels (faces of 4 << levels pixels), `ch` channels throughout,
// style latents of `s` values (one per layer when per_layer), SFT on half the channels or all.
inline Map small_gfpgan(int levels, int64_t ch, int64_t s, bool per_layer, bool sft_half, double noise = 0.1) {
    Map m;
    auto conv = [&](const std::string& p, int64_t out, int64_t in, int64_t k, bool bias = true) {
        m[p + "weight"] = rnd({out, in, k, k}, 0.3);
        if (bias) m[p + "bias"] = rnd({out}, 0.1);
    };
    auto res = [&](const std::string& p) {
        conv(p + "conv1.", ch, ch, 3);
        conv(p + "conv2.", ch, ch, 3);
        conv(p + "skip.", ch, ch, 1, false);
    };
    conv("conv_body_first.", ch, 3, 1);
    for (int i = 0; i < levels; ++i) res("conv_body_down." + std::to_string(i) + ".");
    conv("final_conv.", ch, ch, 3);
    const int64_t n_latent = 2 * levels + 2, rows = per_layer ? s * n_latent : s;
    m["final_linear.weight"] = rnd({rows, ch * 16}, 0.1);
    m["final_linear.bias"] = rnd({rows}, 0.1);
    const int64_t sft = sft_half ? ch / 2 : ch;
    for (int i = 0; i < levels; ++i) {
        const std::string n = std::to_string(i);
        res("conv_body_up." + n + ".");
        m["toRGB." + n + ".weight"] = rnd({3, ch, 1, 1});
        m["toRGB." + n + ".bias"] = rnd({3});
        for (const char* c : {"condition_scale.", "condition_shift."}) {
            conv(c + n + ".0.", ch, ch, 3);
            conv(c + n + ".2.", sft, ch, 3);
        }
    }
    const std::string d = "stylegan_decoder.";
    m[d + "constant_input.weight"] = rnd({1, ch, 4, 4}, 1.0);
    auto style_conv = [&](const std::string& p) {
        m[p + "modulated_conv.weight"] = rnd({1, ch, ch, 3, 3}, 0.3);
        m[p + "modulated_conv.modulation.weight"] = rnd({ch, s}, 0.3);
        m[p + "modulated_conv.modulation.bias"] = torch::ones({ch});
        m[p + "weight"] = torch::full({1}, noise);
        m[p + "bias"] = rnd({1, ch, 1, 1}, 0.1);
    };
    auto to_rgb = [&](const std::string& p) {
        m[p + "modulated_conv.weight"] = rnd({1, 3, ch, 1, 1}, 0.3);
        m[p + "modulated_conv.modulation.weight"] = rnd({ch, s}, 0.3);
        m[p + "modulated_conv.modulation.bias"] = torch::ones({ch});
        m[p + "bias"] = rnd({1, 3, 1, 1}, 0.1);
    };
    style_conv(d + "style_conv1.");
    to_rgb(d + "to_rgb1.");
    for (int i = 0; i < levels; ++i) {
        style_conv(d + "style_convs." + std::to_string(2 * i) + ".");
        style_conv(d + "style_convs." + std::to_string(2 * i + 1) + ".");
        to_rgb(d + "to_rgbs." + std::to_string(i) + ".");
    }
    for (int k = 1; k <= 15; k += 2) {  // the style MLP the file carries (unused: input_is_latent)
        m[d + "style_mlp." + std::to_string(k) + ".weight"] = rnd({s, s});
        m[d + "style_mlp." + std::to_string(k) + ".bias"] = rnd({s});
    }
    return m;
}

inline void save(const std::string& path, const Map& m) {
    std::vector<io::FloatTensor> out;
    for (const auto& [k, t] : m) {
        if (t.scalar_type() != torch::kFloat) continue;
        const torch::Tensor c = t.contiguous();
        out.push_back({k, c.sizes().vec(), std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel())});
    }
    io::write_safetensors(path, out);
}


// A CodeFormer in the release's block layout (six encoder/generator levels of two residual blocks,
// attention at the last) with `widths` channels per level (the release: 64, 128, 128, 256, 256, 512),
// codes of `emb` values, a `dim`-wide transformer of `layers` layers over side x side positions (faces
// of 32 x side pixels), the four fused levels of the release.
inline Map small_codeformer(int64_t side = 2, std::vector<int64_t> widths = {32, 32, 32, 32, 32, 32}, int64_t emb = 16, int64_t dim = 16,
                            int layers = 2, int64_t codes = 12) {
    Map m;
    auto conv = [&](const std::string& p, int64_t out, int64_t in, int64_t k) {
        m[p + ".weight"] = rnd({out, in, k, k}, 0.1);
        m[p + ".bias"] = rnd({out}, 0.05);
    };
    auto gn = [&](const std::string& p, int64_t c) {
        m[p + ".weight"] = 1 + rnd({c}, 0.1);
        m[p + ".bias"] = rnd({c}, 0.1);
    };
    auto res = [&](const std::string& p, int64_t in, int64_t out) {
        gn(p + ".norm1", in);
        conv(p + ".conv1", out, in, 3);
        gn(p + ".norm2", out);
        conv(p + ".conv2", out, out, 3);
        if (in != out) conv(p + ".conv_out", out, in, 1);
    };
    auto attn = [&](const std::string& p, int64_t c) {
        gn(p + ".norm", c);
        for (const char* n : {".q", ".k", ".v", ".proj_out"}) conv(p + n, c, c, 1);
    };
    int i = 0;
    auto next = [&](const char* list) { return std::string(list) + "." + std::to_string(i++); };
    conv(next("encoder.blocks"), widths[0], 3, 3);
    int64_t ch = widths[0];
    for (size_t l = 0; l < 6; ++l) {
        for (int r = 0; r < 2; ++r) {
            res(next("encoder.blocks"), ch, widths[l]);
            ch = widths[l];
            if (l == 5) attn(next("encoder.blocks"), ch);
        }
        if (l < 5) conv(next("encoder.blocks") + ".conv", ch, ch, 3);
    }
    res(next("encoder.blocks"), ch, ch);
    attn(next("encoder.blocks"), ch);
    res(next("encoder.blocks"), ch, ch);
    gn(next("encoder.blocks"), ch);
    conv(next("encoder.blocks"), emb, ch, 3);
    i = 0;
    ch = widths[5];
    conv(next("generator.blocks"), ch, emb, 3);
    res(next("generator.blocks"), ch, ch);
    attn(next("generator.blocks"), ch);
    res(next("generator.blocks"), ch, ch);
    for (int l = 5; l >= 0; --l) {
        for (int r = 0; r < 2; ++r) {
            res(next("generator.blocks"), ch, widths[static_cast<size_t>(l)]);
            ch = widths[static_cast<size_t>(l)];
            if (l == 5) attn(next("generator.blocks"), ch);
        }
        if (l > 0) conv(next("generator.blocks") + ".conv", ch, ch, 3);
    }
    gn(next("generator.blocks"), ch);
    conv(next("generator.blocks"), 3, ch, 3);
    m["quantize.embedding.weight"] = rnd({codes, emb}, 1.0);
    m["position_emb"] = rnd({side * side, dim}, 0.5);
    m["feat_emb.weight"] = rnd({dim, emb}, 0.3);
    m["feat_emb.bias"] = rnd({dim}, 0.1);
    for (int l = 0; l < layers; ++l) {
        const std::string p = "ft_layers." + std::to_string(l) + ".";
        m[p + "self_attn.in_proj_weight"] = rnd({3 * dim, dim}, 0.3);
        m[p + "self_attn.in_proj_bias"] = rnd({3 * dim}, 0.1);
        m[p + "self_attn.out_proj.weight"] = rnd({dim, dim}, 0.3);
        m[p + "self_attn.out_proj.bias"] = rnd({dim}, 0.1);
        m[p + "linear1.weight"] = rnd({2 * dim, dim}, 0.3);
        m[p + "linear1.bias"] = rnd({2 * dim}, 0.1);
        m[p + "linear2.weight"] = rnd({dim, 2 * dim}, 0.3);
        m[p + "linear2.bias"] = rnd({dim}, 0.1);
        gn(p + "norm1", dim);
        gn(p + "norm2", dim);
    }
    gn("idx_pred_layer.0", dim);
    m["idx_pred_layer.1.weight"] = rnd({codes, dim}, 1.0);
    // The release's fused levels: after encoder blocks 14, 11, 8, 5 and generator blocks 9, 12, 15, 18.
    const std::pair<const char*, size_t> fused[] = {{"32", 4}, {"64", 3}, {"128", 2}, {"256", 1}};
    for (const auto& [name, level] : fused) {
        const std::string p = std::string("fuse_convs_dict.") + name;
        const int64_t c = widths[level];
        res(p + ".encode_enc", 2 * c, c);
        for (const char* b : {".scale.0", ".shift.0"}) conv(p + b, c, c, 3);
        // Small last layers, as trained ones are: a random scale of ~30 at each of four levels would
        // multiply the features past float range.
        for (const char* b : {".scale.2", ".shift.2"}) {
            m[p + b + ".weight"] = rnd({c, c, 3, 3}, 0.005);
            m[p + b + ".bias"] = rnd({c}, 0.01);
        }
    }
    return m;
}

// The face restorers' files in `dir` under A1111's names: a 512-pixel GFPGAN of 4 channels, a
// 512-pixel CodeFormer of 32, a ParseNet that calls every pixel skin, and a detector that finds faces at every position of its coarsest
// level with boxes so large (256 e^1.8 pixels) that NMS keeps a few, eyes 4 x 25.6 pixels apart
// where it looks (the picture's short side at 640).
inline void write_face_models(const std::string& dir) {
    torch::manual_seed(8);
    save(dir + "/GFPGANv1.4.pth", small_gfpgan(7, 4, 4, true, true));
    save(dir + "/parsing_parsenet.pth", small_parsenet(true));
    save(dir + "/codeformer-v0.1.0.pth", small_codeformer(16));  // 512-pixel faces
    save(dir + "/detection_Resnet50_Final.pth",
         small_retinaface({kNoFace, kNoFace, kFirstAnchorFace}, {0, 0, 9, 9}, {-2, -1, 2, -1, 0, 0.5f, -1.5f, 2, 1.5f, 2}));
}

}  // namespace sdgimp::test
