#include "codeformer.h"

#include <cmath>

#include "tensor_lookup.h"

namespace sdgimp::models {
namespace {

namespace F = torch::nn::functional;
const std::string kNotCodeFormer = "; the file is damaged or not a CodeFormer model (codeformer-v0.1.0.pth).";

// CodeFormer's fixed VQGAN layout: which encoder block's output each fused level takes and after
// which generator block it is fused in (its fuse_encoder_block / fuse_generator_block tables).
struct FuseLevel {
    const char* name;
    int encoder_block, generator_block;
};
constexpr FuseLevel kFuseLevels[] = {{"16", 18, 6}, {"32", 14, 9}, {"64", 11, 12}, {"128", 8, 15}, {"256", 5, 18}, {"512", 2, 21}};

torch::Tensor swish(const torch::Tensor& x) { return x * torch::sigmoid(x); }
torch::Tensor group_norm(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) { return torch::group_norm(x, 32, w, b, 1e-6); }

}  // namespace

torch::Tensor multihead_attention(const torch::Tensor& qk, const torch::Tensor& v_in, const torch::Tensor& in_w, const torch::Tensor& in_b,
                                  const torch::Tensor& out_w, const torch::Tensor& out_b, int64_t heads) {
    const int64_t l = qk.size(0), b = qk.size(1), e = qk.size(2), hd = e / heads;
    const auto w = in_w.chunk(3, 0), bias = in_b.chunk(3, 0);
    auto split = [&](const torch::Tensor& x) { return x.reshape({l, b * heads, hd}).transpose(0, 1); };  // (B*H, L, hd)
    const torch::Tensor q = split(torch::linear(qk, w[0], bias[0])) / std::sqrt(static_cast<double>(hd));
    const torch::Tensor k = split(torch::linear(qk, w[1], bias[1])), v = split(torch::linear(v_in, w[2], bias[2]));
    const torch::Tensor o = torch::bmm(torch::softmax(torch::bmm(q, k.transpose(1, 2)), -1), v);
    return torch::linear(o.transpose(0, 1).reshape({l, b, e}), out_w, out_b);
}

torch::Tensor adaptive_instance_norm(const torch::Tensor& content, const torch::Tensor& style) {
    auto stats = [](const torch::Tensor& f) {
        const torch::Tensor flat = f.reshape({f.size(0), f.size(1), -1});
        return std::make_pair(flat.mean(2).view({f.size(0), f.size(1), 1, 1}), (flat.var(2) + 1e-5).sqrt().view({f.size(0), f.size(1), 1, 1}));
    };
    const auto [s_mean, s_std] = stats(style);
    const auto [c_mean, c_std] = stats(content);
    return (content - c_mean) / c_std * s_std + s_mean;
}

torch::Tensor CodeFormer::Block::forward(const torch::Tensor& x) const {
    switch (kind) {
        case Kind::kConv: return torch::conv2d(x, w, b, 1, 1);
        case Kind::kNorm: return group_norm(x, w, b);
        case Kind::kDown: return torch::conv2d(F::pad(x, F::PadFuncOptions({0, 1, 0, 1})), w, b, 2);
        case Kind::kUp:
            return torch::conv2d(F::interpolate(x, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2, 2}).mode(torch::kNearest)), w, b, 1, 1);
        case Kind::kRes: {
            torch::Tensor h = torch::conv2d(swish(group_norm(x, n1_w, n1_b)), c1_w, c1_b, 1, 1);
            h = torch::conv2d(swish(group_norm(h, n2_w, n2_b)), c2_w, c2_b, 1, 1);
            return h + (out_w.defined() ? torch::conv2d(x, out_w, out_b) : x);
        }
        case Kind::kAttn: {
            const torch::Tensor h = group_norm(x, n1_w, n1_b);
            const int64_t bsz = x.size(0), c = x.size(1), n = x.size(2) * x.size(3);
            const torch::Tensor q = torch::conv2d(h, q_w, q_b).reshape({bsz, c, n}).permute({0, 2, 1});
            const torch::Tensor k = torch::conv2d(h, k_w, k_b).reshape({bsz, c, n});
            const torch::Tensor v = torch::conv2d(h, v_w, v_b).reshape({bsz, c, n});
            const torch::Tensor att = torch::softmax(torch::bmm(q, k) * std::pow(static_cast<double>(c), -0.5), 2);
            const torch::Tensor o = torch::bmm(v, att.permute({0, 2, 1})).reshape(x.sizes());
            return x + torch::conv2d(o, p_w, p_b);
        }
    }
    return x;
}

bool CodeFormer::is_layout(const std::map<std::string, torch::Tensor>& t) {
    return t.count("position_emb") && t.count("idx_pred_layer.1.weight") && t.count("quantize.embedding.weight") &&
           t.count("ft_layers.0.self_attn.in_proj_weight") && t.count("encoder.blocks.0.weight");
}

CodeFormer CodeFormer::from_tensors(const std::map<std::string, torch::Tensor>& tensors, const std::string& path) {
    if (!is_layout(tensors)) throw_bad_file(path, "is not a CodeFormer model (no position_emb, idx_pred_layer, codebook and transformer)" + kNotCodeFormer);
    const TensorLookup t(tensors, path, "", kNotCodeFormer);
    auto conv = [&](const std::string& k, int64_t out, int64_t in, int64_t ks) {
        return std::make_pair(t.expect(k + ".weight", {out, in, ks, ks}), t.expect(k + ".bias", {out}));
    };
    auto norm_width = [&](const std::string& k, int64_t ch) {
        if (ch % 32) t.fail("has " + k + " over " + std::to_string(ch) + " channels, not whole groups of 32");
        return std::make_pair(t.expect(k + ".weight", {ch}), t.expect(k + ".bias", {ch}));
    };
    auto res_block = [&](const std::string& p, int64_t in, Block* b) {
        b->kind = Block::Kind::kRes;
        std::tie(b->n1_w, b->n1_b) = norm_width(p + "norm1", in);
        const int64_t out = t.conv_out(p + "conv1.weight", in, 3);
        std::tie(b->c1_w, b->c1_b) = conv(p + "conv1", out, in, 3);
        std::tie(b->n2_w, b->n2_b) = norm_width(p + "norm2", out);
        std::tie(b->c2_w, b->c2_b) = conv(p + "conv2", out, out, 3);
        if (in != out) std::tie(b->out_w, b->out_b) = conv(p + "conv_out", out, in, 1);
        return out;
    };
    // A block list (encoder.blocks / generator.blocks): each block's kind read from its keys.
    auto blocks = [&](const std::string& name, int64_t ch, bool generator, std::vector<Block>* out) {
        for (int i = 0;; ++i) {
            const std::string p = name + "." + std::to_string(i) + ".";
            Block b;
            if (t.has(p + "norm1.weight")) {
                ch = res_block(p, ch, &b);
            } else if (t.has(p + "q.weight")) {
                b.kind = Block::Kind::kAttn;
                std::tie(b.n1_w, b.n1_b) = norm_width(p + "norm", ch);
                std::tie(b.q_w, b.q_b) = conv(p + "q", ch, ch, 1);
                std::tie(b.k_w, b.k_b) = conv(p + "k", ch, ch, 1);
                std::tie(b.v_w, b.v_b) = conv(p + "v", ch, ch, 1);
                std::tie(b.p_w, b.p_b) = conv(p + "proj_out", ch, ch, 1);
            } else if (t.has(p + "conv.weight")) {
                b.kind = generator ? Block::Kind::kUp : Block::Kind::kDown;
                std::tie(b.w, b.b) = conv(p + "conv", ch, ch, 3);
            } else if (t.has(p + "weight") && t.get(p + "weight").dim() == 1) {
                b.kind = Block::Kind::kNorm;
                std::tie(b.w, b.b) = norm_width(p.substr(0, p.size() - 1), ch);
            } else if (t.has(p + "weight")) {
                b.kind = Block::Kind::kConv;
                const int64_t o = t.conv_out(p + "weight", ch, 3);
                std::tie(b.w, b.b) = conv(p.substr(0, p.size() - 1), o, ch, 3);
                ch = o;
            } else {
                break;
            }
            if (i >= 64) t.fail("has more than 64 blocks in " + name);
            out->push_back(std::move(b));
        }
        return ch;
    };
    CodeFormer net;
    const int64_t emb = blocks("encoder.blocks", 3, false, &net.encoder_);
    const torch::Tensor& book = t.get("quantize.embedding.weight");
    if (book.dim() != 2 || book.size(1) != emb) t.fail("has a codebook whose codes are not the encoder's " + std::to_string(emb) + " values");
    net.codebook_ = t.expect("quantize.embedding.weight", book.sizes().vec());
    const int64_t out_ch = blocks("generator.blocks", emb, true, &net.generator_);
    if (out_ch != 3) t.fail("has a generator that does not end in RGB");
    if (net.encoder_.size() < 19 || net.generator_.size() < 22) t.fail("does not have CodeFormer's VQGAN layout (six levels of two residual blocks)");

    const torch::Tensor& pos = t.get("position_emb");
    if (pos.dim() != 2) t.fail("has a position_emb that is not a table");
    const int64_t n = pos.size(0), e = pos.size(1);
    net.side_ = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(n))));
    if (net.side_ * net.side_ != n || n < 1) t.fail("has " + std::to_string(n) + " positions, not a square grid");
    if (e % 8) t.fail("has a " + std::to_string(e) + "-wide transformer, which 8 heads do not divide");
    net.position_ = t.expect("position_emb", {n, e});
    net.feat_w_ = t.expect("feat_emb.weight", {e, emb}), net.feat_b_ = t.expect("feat_emb.bias", {e});
    for (int i = 0; t.has("ft_layers." + std::to_string(i) + ".self_attn.in_proj_weight"); ++i) {
        if (i >= 64) t.fail("has more than 64 transformer layers");
        const std::string p = "ft_layers." + std::to_string(i) + ".";
        Layer l;
        l.in_w = t.expect(p + "self_attn.in_proj_weight", {3 * e, e}), l.in_b = t.expect(p + "self_attn.in_proj_bias", {3 * e});
        l.out_w = t.expect(p + "self_attn.out_proj.weight", {e, e}), l.out_b = t.expect(p + "self_attn.out_proj.bias", {e});
        const torch::Tensor& l1 = t.get(p + "linear1.weight");
        const int64_t mlp = l1.dim() == 2 ? l1.size(0) : 0;
        l.l1_w = t.expect(p + "linear1.weight", {mlp, e}), l.l1_b = t.expect(p + "linear1.bias", {mlp});
        l.l2_w = t.expect(p + "linear2.weight", {e, mlp}), l.l2_b = t.expect(p + "linear2.bias", {e});
        l.n1_w = t.expect(p + "norm1.weight", {e}), l.n1_b = t.expect(p + "norm1.bias", {e});
        l.n2_w = t.expect(p + "norm2.weight", {e}), l.n2_b = t.expect(p + "norm2.bias", {e});
        net.layers_.push_back(std::move(l));
    }
    const int64_t codes = net.codebook_.size(0);
    net.pred_norm_w_ = t.expect("idx_pred_layer.0.weight", {e}), net.pred_norm_b_ = t.expect("idx_pred_layer.0.bias", {e});
    net.pred_w_ = t.expect("idx_pred_layer.1.weight", {codes, e});

    for (const auto& level : kFuseLevels) {
        const std::string p = std::string("fuse_convs_dict.") + level.name + ".";
        if (!t.has(p + "scale.0.weight")) continue;
        Fuse f;
        f.encoder_block = level.encoder_block, f.generator_block = level.generator_block;
        const int64_t ch = net.encoder_[static_cast<size_t>(f.encoder_block)].c2_w.defined() ? net.encoder_[static_cast<size_t>(f.encoder_block)].c2_w.size(0) : 0;
        const Block& g = net.generator_[static_cast<size_t>(f.generator_block)];
        if (ch == 0 || !g.c2_w.defined() || g.c2_w.size(0) != ch) t.fail("has " + p + "where the encoder and generator widths differ");
        if (res_block(p + "encode_enc.", 2 * ch, &f.encode) != ch) t.fail("has " + p + "encode_enc of another width");
        for (int k = 0; k < 2; ++k) {
            const std::string idx = k == 0 ? "0" : "2";
            std::tie(f.scale_w[k], f.scale_b[k]) = conv(p + "scale." + idx, ch, ch, 3);
            std::tie(f.shift_w[k], f.shift_b[k]) = conv(p + "shift." + idx, ch, ch, 3);
        }
        net.fuses_.push_back(std::move(f));
    }
    return net;
}

torch::Tensor CodeFormer::forward(const torch::Tensor& input, double weight) const {
    torch::NoGradGuard ng;
    const int64_t size = face_size();
    if (input.dim() != 4 || input.size(0) != 1 || input.size(1) != 3 || input.size(2) != size || input.size(3) != size)
        throw Error(ErrorCode::kInternal, "CodeFormer takes one " + std::to_string(size) + "x" + std::to_string(size) + " RGB face.");
    std::vector<torch::Tensor> enc_feats(fuses_.size());
    torch::Tensor x = input;
    for (size_t i = 0; i < encoder_.size(); ++i) {
        x = encoder_[i].forward(x);
        for (size_t f = 0; f < fuses_.size(); ++f)
            if (fuses_[f].encoder_block == static_cast<int>(i)) enc_feats[f] = x;
    }
    const torch::Tensor lq = x;
    if (lq.size(2) != side_ || lq.size(3) != side_) throw Error(ErrorCode::kInternal, "CodeFormer's encoder did not reach its position grid.");
    const int64_t e = position_.size(1);
    const torch::Tensor pos = position_.unsqueeze(1);
    torch::Tensor q = torch::linear(lq.flatten(2).permute({2, 0, 1}), feat_w_, feat_b_);  // (L, 1, E)
    for (const Layer& l : layers_) {
        torch::Tensor t2 = F::layer_norm(q, F::LayerNormFuncOptions({e}).weight(l.n1_w).bias(l.n1_b).eps(1e-5));
        q = q + multihead_attention(t2 + pos, t2, l.in_w, l.in_b, l.out_w, l.out_b, 8);
        t2 = F::layer_norm(q, F::LayerNormFuncOptions({e}).weight(l.n2_w).bias(l.n2_b).eps(1e-5));
        q = q + torch::linear(torch::gelu(torch::linear(t2, l.l1_w, l.l1_b)), l.l2_w, l.l2_b);
    }
    const torch::Tensor logits = torch::linear(F::layer_norm(q, F::LayerNormFuncOptions({e}).weight(pred_norm_w_).bias(pred_norm_b_).eps(1e-5)), pred_w_);
    const torch::Tensor codes = torch::softmax(logits.permute({1, 0, 2}), 2).argmax(2).reshape({-1});  // (L)
    torch::Tensor quant = codebook_.index_select(0, codes).view({1, side_, side_, -1}).permute({0, 3, 1, 2}).contiguous();
    x = adaptive_instance_norm(quant, lq);
    for (size_t i = 0; i < generator_.size(); ++i) {
        x = generator_[i].forward(x);
        if (weight <= 0) continue;
        for (size_t f = 0; f < fuses_.size(); ++f) {
            const Fuse& fu = fuses_[f];
            if (fu.generator_block != static_cast<int>(i)) continue;
            const torch::Tensor enc = fu.encode.forward(torch::cat({enc_feats[f], x}, 1));
            auto branch = [&](const torch::Tensor* w, const torch::Tensor* b) {
                return torch::conv2d(torch::leaky_relu(torch::conv2d(enc, w[0], b[0], 1, 1), 0.2), w[1], b[1], 1, 1);
            };
            x = x + weight * (x * branch(fu.scale_w, fu.scale_b) + branch(fu.shift_w, fu.shift_b));
        }
    }
    return x;
}

}  // namespace sdgimp::models
