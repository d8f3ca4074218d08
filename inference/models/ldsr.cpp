#include "ldsr.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include "../imaging/inpaint_prep.h"
#include "../imaging/resample.h"
#include "../io/checkpoint_file.h"
#include "../io/yaml_lite.h"
#include "../sampling/schedules.h"
#include "../status.h"
#include "state_loader.h"

namespace sdgimp::models {

namespace {

const char* const kUnet = "model.diffusion_model.";
const char* const kFirst = "first_stage_model.";
// ldsr_model_arch.py's split_input_params: 128-latent crops every 64, the VQ factor 4.
constexpr int64_t kCrop = 128, kStride = 64, kVqFactor = 4;

const nlohmann::json* at_path(const nlohmann::json* j, std::initializer_list<const char*> path) {
    for (const char* k : path) {
        if (!j || !j->is_object() || !j->contains(k)) return nullptr;
        j = &(*j)[k];
    }
    return j;
}

bool has(const io::TensorMap& t, const std::string& k) { return t.count(k) > 0; }

const std::vector<int64_t>& shape_of(const io::TensorMap& t, const std::string& k, const std::string& path) {
    const auto it = t.find(k);
    if (it == t.end()) throw_bad_file(path, "has no " + k + ", so it is not an LDSR model; use A1111's LDSR model.ckpt.");
    return it->second.shape;
}

int64_t dim(const io::TensorMap& t, const std::string& k, size_t i, const std::string& path) {
    const auto& s = shape_of(t, k, path);
    if (s.size() <= i || s[i] <= 0) throw_bad_file(path, "has " + k + " of shape " + io::shape_text(s) + ", which no LDSR model has.");
    return s[i];
}

// The number of numbered children "<prefix>N." among the keys.
int count_children(const io::TensorMap& t, const std::string& prefix) {
    int n = 0;
    for (auto it = t.lower_bound(prefix); it != t.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
        const std::string rest = it->first.substr(prefix.size());
        const size_t dot = rest.find('.');
        if (dot == 0 || dot == std::string::npos) continue;
        const std::string num = rest.substr(0, dot);
        if (num.size() > 4 || num.find_first_not_of("0123456789") != std::string::npos) continue;
        n = std::max(n, std::stoi(num) + 1);
    }
    return n;
}

UNetConfig unet_config(const io::TensorMap& t, const std::string& path, const nlohmann::json* yaml) {
    const std::string p = kUnet;
    UNetConfig c;
    c.model_channels = static_cast<int>(dim(t, p + "input_blocks.0.0.weight", 0, path));
    c.in_channels = static_cast<int>(dim(t, p + "input_blocks.0.0.weight", 1, path));
    c.out_channels = static_cast<int>(dim(t, p + "out.2.weight", 0, path));
    c.context_dim = 0;
    c.self_attention_blocks = true;
    c.num_head_channels = 32;  // LDSR's project.yaml
    const int blocks = count_children(t, p + "input_blocks.");
    int level = 0, per_level = 0;
    c.channel_mult.clear();
    for (int i = 1; i < blocks; ++i) {
        const std::string b = p + "input_blocks." + std::to_string(i) + ".";
        if (has(t, b + "0.op.weight")) {
            if (level >= 8) throw_bad_file(path, "has more than 8 downsampling levels, which no LDSR model has.");
            if (per_level == 0) throw_bad_file(path, "has a downsampling block with no residual block before it, which no LDSR model has.");
            if (level == 0) c.num_res_blocks = per_level;
            else if (per_level != c.num_res_blocks) throw_bad_file(path, "has levels with different numbers of residual blocks, which no LDSR model has.");
            ++level;
            per_level = 0;
            continue;
        }
        const int64_t out = dim(t, b + "0.out_layers.3.weight", 0, path);
        if (per_level == 0) {
            if (out % c.model_channels) throw_bad_file(path, "has " + std::to_string(out) + " channels in " + b + "0, no multiple of the model's.");
            c.channel_mult.push_back(static_cast<int>(out / c.model_channels));
        }
        ++per_level;
        if (has(t, b + "1.qkv.weight") && std::find(c.attention_resolutions.begin(), c.attention_resolutions.end(), 1 << level) == c.attention_resolutions.end())
            c.attention_resolutions.push_back(1 << level);
    }
    if (c.channel_mult.empty() || level + 1 != static_cast<int>(c.channel_mult.size()) || (level > 0 && per_level != c.num_res_blocks))
        throw_bad_file(path, "has a UNet whose levels cannot be read from its input blocks; use A1111's LDSR model.ckpt.");
    if (level == 0) c.num_res_blocks = per_level;
    if (c.model_channels % 32) throw_bad_file(path, "has " + std::to_string(c.model_channels) + " model channels, which 32-group normalisation cannot split.");
    if (const auto* up = at_path(yaml, {"model", "params", "unet_config", "params"})) {
        if (const auto* v = at_path(up, {"num_head_channels"}); v && v->is_number_integer()) c.num_head_channels = v->get<int>();
        if (const auto* v = at_path(up, {"num_heads"}); v && v->is_number_integer()) c.num_heads = v->get<int>();
    }
    // Every attention block's channels must split into whole heads (as openaimodel asserts).
    std::vector<int64_t> attended{static_cast<int64_t>(c.model_channels) * c.channel_mult.back()};  // the middle block
    for (size_t l = 0; l < c.channel_mult.size(); ++l)
        if (std::find(c.attention_resolutions.begin(), c.attention_resolutions.end(), 1 << l) != c.attention_resolutions.end())
            attended.push_back(static_cast<int64_t>(c.model_channels) * c.channel_mult[l]);
    for (const int64_t ch : attended) {
        const int64_t heads = c.num_head_channels > 0 ? ch / c.num_head_channels : (c.num_heads > 0 ? c.num_heads : 8);
        if (c.num_head_channels == 0 || heads < 1 || ch % heads || (c.num_head_channels > 0 && ch % c.num_head_channels))
            throw_bad_file(path, "has attention blocks of " + std::to_string(ch) + " channels that its project.yaml's heads (num_head_channels " +
                                     std::to_string(c.num_head_channels) + ", num_heads " + std::to_string(c.num_heads) +
                                     ") do not split; use A1111's project.yaml.");
    }
    return c;
}

VAEConfig vq_config(const io::TensorMap& t, const std::string& path) {
    const std::string p = std::string(kFirst) + "decoder.";
    VAEConfig c;
    c.ch = static_cast<int>(dim(t, p + "conv_out.weight", 1, path));
    const int levels = count_children(t, p + "up.");
    if (levels < 1) throw_bad_file(path, "has no decoder levels under " + p + "up, so it is not an LDSR model.");
    c.ch_mult.clear();
    for (int i = 0; i < levels; ++i) {
        const int64_t out = dim(t, p + "up." + std::to_string(i) + ".block.0.conv2.weight", 0, path);
        if (out % c.ch) throw_bad_file(path, "has a decoder level of " + std::to_string(out) + " channels, no multiple of its " + std::to_string(c.ch) + ".");
        c.ch_mult.push_back(static_cast<int>(out / c.ch));
        if (count_children(t, p + "up." + std::to_string(i) + ".attn.") > 0)
            throw_bad_file(path, "has attention inside its decoder levels, which LDSR's first stage does not; use A1111's LDSR model.ckpt.");
    }
    c.num_res_blocks = count_children(t, p + "up.0.block.") - 1;
    c.z_channels = static_cast<int>(dim(t, p + "conv_in.weight", 1, path));
    c.embed_dim = static_cast<int>(dim(t, std::string(kFirst) + "post_quant_conv.weight", 1, path));
    if (c.num_res_blocks < 1 || c.ch % 32) throw_bad_file(path, "has a first-stage decoder of a shape LDSR's is not.");
    return c;
}

void throw_report(const LoadReport& rep, const std::string& path, const std::string& part) {
    if (rep.ok()) return;
    const std::string what = !rep.mismatched.empty() ? "has " + rep.mismatched.front()
                             : !rep.missing.empty()  ? "lacks " + rep.missing.front()
                                                     : "has an unexpected " + rep.unexpected.front();
    throw_bad_file(path, what + " in its " + part + ", so it is not an LDSR model this build can run.");
}

// The checkpoint's sampling weights: LitEma keeps model_ema.<name without dots> beside the trained
// ones, and ldm samples inside ema_scope, which swaps them in.
io::TensorMap unet_weights(const io::TensorMap& t) {
    io::TensorMap out;
    const std::string p = kUnet;
    for (auto it = t.lower_bound(p); it != t.end() && it->first.compare(0, p.size(), p) == 0; ++it) {
        std::string ema = "diffusion_model." + it->first.substr(p.size());
        ema.erase(std::remove(ema.begin(), ema.end(), '.'), ema.end());
        const auto e = t.find("model_ema." + ema);
        out[it->first] = e != t.end() ? e->second : it->second;
    }
    return out;
}

}  // namespace

torch::Tensor ldsr_tile_weighting(int64_t h, int64_t w) {
    const auto f = torch::TensorOptions().dtype(torch::kFloat);
    auto ys = torch::arange(h, f).div(static_cast<double>(std::max<int64_t>(h - 1, 1))).view({h, 1}).expand({h, w});
    auto xs = torch::arange(w, f).div(static_cast<double>(std::max<int64_t>(w - 1, 1))).view({1, w}).expand({h, w});
    auto near = torch::minimum(ys, xs), far = torch::minimum(1 - ys, 1 - xs);
    return torch::minimum(near, far).clamp(0.01, 0.5).contiguous();
}

torch::Tensor ldsr_fold_crops(const torch::Tensor& x, int64_t ks, int64_t stride, int64_t uf,
                              const std::function<torch::Tensor(const torch::Tensor&, int64_t)>& fn) {
    const int64_t h = x.size(2), w = x.size(3);
    const int64_t kh = std::min(ks, h), kw = std::min(ks, w), sh = std::min(stride, h), sw = std::min(stride, w);
    const int64_t ly = (h - kh) / sh + 1, lx = (w - kw) / sw + 1;
    if ((h - kh) % sh || (w - kw) % sw)
        throw Error(ErrorCode::kInvalidRequest, "LDSR's crops do not cover a " + std::to_string(w) + "x" + std::to_string(h) +
                                                    " latent; its picture must be padded to multiples of 64.");
    const auto weight = ldsr_tile_weighting(kh * uf, kw * uf).to(x.dtype());
    torch::Tensor sum, norm = torch::zeros({h * uf, w * uf}, weight.options());
    for (int64_t iy = 0; iy < ly; ++iy)
        for (int64_t ix = 0; ix < lx; ++ix) {
            const auto crop = x.narrow(2, iy * sh, kh).narrow(3, ix * sw, kw).contiguous();
            const auto o = fn(crop, iy * lx + ix);
            if (!sum.defined()) sum = torch::zeros({x.size(0), o.size(1), h * uf, w * uf}, o.options());
            sum.narrow(2, iy * sh * uf, kh * uf).narrow(3, ix * sw * uf, kw * uf).add_(o * weight);
            norm.narrow(0, iy * sh * uf, kh * uf).narrow(1, ix * sw * uf, kw * uf).add_(weight);
        }
    return sum / norm;
}

std::vector<float> linear_alphas_cumprod(double linear_start, double linear_end, int n) {
    const auto a = sampling::ModelSchedule::linear(linear_start, linear_end, n).alphas_cumprod.contiguous();
    return std::vector<float>(a.data_ptr<float>(), a.data_ptr<float>() + a.numel());
}

DdimSchedule ddim_schedule(const std::vector<float>& ac, int steps, double eta) {
    const int n = static_cast<int>(ac.size());
    if (steps < 1 || steps > n) throw Error(ErrorCode::kInvalidRequest, "LDSR steps must be between 1 and " + std::to_string(n) + ".");
    DdimSchedule s;
    const int c = n / steps;
    for (int t = 0; t < n; t += c) s.timesteps.push_back(t + 1);
    for (size_t i = 0; i < s.timesteps.size(); ++i) {
        if (s.timesteps[i] >= n)
            throw Error(ErrorCode::kInvalidRequest, "LDSR cannot run " + std::to_string(steps) + " steps: ldm's schedule would end on timestep " +
                                                        std::to_string(n) + ", past its last (A1111 fails there too); choose " +
                                                        std::to_string(steps - 1) + " or " + std::to_string(steps + 1) + " steps.");
        const double a = ac[static_cast<size_t>(s.timesteps[i])];
        const double prev = i == 0 ? ac[0] : ac[static_cast<size_t>(s.timesteps[i - 1])];
        s.alphas.push_back(static_cast<float>(a));
        s.alphas_prev.push_back(static_cast<float>(prev));
        s.sigmas.push_back(static_cast<float>(eta * std::sqrt((1 - prev) / (1 - a) * (1 - a / prev))));
        s.sqrt_one_minus_alphas.push_back(static_cast<float>(std::sqrt(1.0 - static_cast<float>(a))));
    }
    return s;
}

torch::Tensor ddim_step(const torch::Tensor& x, const torch::Tensor& eps, const DdimSchedule& s, size_t i, const torch::Tensor& noise) {
    // float32 scalars as ldm's torch.full((b, 1, 1, 1), ...) holds them.
    const auto f = x.options();
    const auto a_t = torch::full({1}, s.alphas[i], f), a_prev = torch::full({1}, s.alphas_prev[i], f);
    const auto sigma = torch::full({1}, s.sigmas[i], f), sqrt_1m = torch::full({1}, s.sqrt_one_minus_alphas[i], f);
    const auto pred_x0 = (x - sqrt_1m * eps) / a_t.sqrt();
    const auto dir_xt = (1.0 - a_prev - sigma.pow(2)).sqrt() * eps;
    return a_prev.sqrt() * pred_x0 + dir_xt + sigma * noise;
}

VqFirstStageImpl::VqFirstStageImpl(const VAEConfig& c, int64_t n_embed) {
    decoder = register_module("decoder", VaeDecoder(c));
    post_quant_conv = register_module("post_quant_conv", conv2d(c.embed_dim, c.z_channels, 1));
    auto quantize = register_module("quantize", std::make_shared<torch::nn::Module>());
    embedding = quantize->register_module("embedding", torch::nn::Embedding(n_embed, c.embed_dim));
}

torch::Tensor VqFirstStageImpl::quantize_codes(const torch::Tensor& h) {
    const int64_t d = h.size(1);
    const auto z = h.permute({0, 2, 3, 1}).contiguous();
    const auto flat = z.view({-1, d});
    const auto& e = embedding->weight;
    const auto dist = flat.pow(2).sum(1, true) + e.pow(2).sum(1) - 2 * torch::matmul(flat, e.t());
    const auto zq = torch::embedding(e, dist.argmin(1)).view(z.sizes());
    return (z + (zq - z)).permute({0, 3, 1, 2}).contiguous();
}

torch::Tensor VqFirstStageImpl::decode(const torch::Tensor& h) {
    return decoder->forward(post_quant_conv->forward(quantize_codes(h)));
}

bool Ldsr::is_layout(const io::TensorMap& t) {
    return has(t, std::string(kUnet) + "input_blocks.0.0.weight") && has(t, std::string(kFirst) + "quantize.embedding.weight") &&
           has(t, std::string(kFirst) + "decoder.conv_in.weight");
}

std::unique_ptr<Ldsr> Ldsr::load(const std::string& path) {
    const auto ck = io::open_checkpoint(path);
    // project.yaml beside the model, as A1111 keeps it in models/LDSR.
    const size_t slash = path.find_last_of('/');
    const std::string yaml_path = (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) + "project.yaml";
    nlohmann::json yaml;
    bool have_yaml = false;
    if (std::ifstream f(yaml_path); f) {
        std::stringstream ss;
        ss << f.rdbuf();
        yaml = io::parse_yaml_lite(ss.str(), yaml_path);
        have_yaml = true;
    }
    return from_tensors(ck.tensors, path, have_yaml ? &yaml : nullptr);
}

std::unique_ptr<Ldsr> Ldsr::from_tensors(const io::TensorMap& t, const std::string& path, const nlohmann::json* yaml) {
    if (!is_layout(t)) throw_bad_file(path, "is not an LDSR model (no UNet under model.diffusion_model with a VQ first stage); use A1111's LDSR model.ckpt.");
    auto m = std::make_unique<Ldsr>();
    const UNetConfig uc = unet_config(t, path, yaml);
    const VAEConfig vc = vq_config(t, path);
    if (vc.ch_mult.size() != 3)
        throw_bad_file(path, "has a first stage that enlarges " + std::to_string(1 << (vc.ch_mult.size() - 1)) + " times, where LDSR's enlarges 4 times.");
    if (uc.out_channels != vc.embed_dim || uc.in_channels != uc.out_channels + 3)
        throw_bad_file(path, "has a UNet of " + std::to_string(uc.in_channels) + " inputs and " + std::to_string(uc.out_channels) +
                                 " outputs, where LDSR's takes its latent and the RGB picture.");
    const int64_t n_embed = dim(t, std::string(kFirst) + "quantize.embedding.weight", 0, path);
    m->unet = UNet(uc);
    throw_report(load_state(*m->unet, unet_weights(t), kUnet), path, "UNet");
    io::TensorMap vq;
    const std::string fp = kFirst;
    for (auto it = t.lower_bound(fp); it != t.end() && it->first.compare(0, fp.size(), fp) == 0; ++it) {
        const std::string rest = it->first.substr(fp.size());
        // The encoder only serves training (A1111 encodes the enlarged picture for its shape alone).
        if (rest.rfind("encoder.", 0) == 0 || rest.rfind("quant_conv.", 0) == 0 || rest.rfind("loss.", 0) == 0) continue;
        vq[it->first] = it->second;
    }
    m->first_stage = VqFirstStage(vc, n_embed);
    throw_report(load_state(*m->first_stage, vq, kFirst), path, "first stage");
    // The weights stay views of the mapped file where it allows (load_state's file_backed: their
    // deleters hold the mapping), so a cached model costs page cache the system can drop, not memory.
    m->unet->eval();
    m->first_stage->eval();

    // The checkpoint's own schedule buffer (load_state_dict overwrites the one the config made), else
    // the config's (LDSR's linear 0.0015 to 0.0155 over 1000 steps).
    if (const auto it = t.find("alphas_cumprod"); it != t.end() && it->second.shape.size() == 1 && it->second.shape[0] >= 2) {
        const auto a = to_torch(it->second).to(torch::kFloat).contiguous();
        m->alphas_cumprod.assign(a.data_ptr<float>(), a.data_ptr<float>() + a.numel());
    } else {
        double start = 0.0015, end = 0.0155;
        int n = 1000;
        if (const auto* p = at_path(yaml, {"model", "params"})) {
            if (const auto* v = at_path(p, {"linear_start"}); v && v->is_number()) start = v->get<double>();
            if (const auto* v = at_path(p, {"linear_end"}); v && v->is_number()) end = v->get<double>();
            if (const auto* v = at_path(p, {"timesteps"}); v && v->is_number_integer()) n = v->get<int>();
        }
        if (!(start > 0 && end > start && end < 1 && n >= 2 && n <= 100000))
            throw_bad_file(path + "'s project.yaml", "gives a schedule of " + std::to_string(n) + " steps from " + std::to_string(start) + " to " +
                                                         std::to_string(end) + ", which no LDSR model uses; use A1111's project.yaml.");
        m->alphas_cumprod = linear_alphas_cumprod(start, end, n);
    }
    for (float a : m->alphas_cumprod)
        if (!(a > 0 && a < 1)) throw_bad_file(path, "has an alphas_cumprod outside (0, 1), which no diffusion schedule has.");
    if (const auto* v = at_path(yaml, {"model", "params", "scale_factor"}); v && v->is_number() && v->get<double>() > 0) m->scale_factor = v->get<double>();
    return m;
}

torch::Tensor Ldsr::eps(const torch::Tensor& z, const torch::Tensor& lr, int64_t t) {
    const auto ts = torch::full({z.size(0)}, static_cast<double>(t), z.options());
    return unet->forward(torch::cat({z, lr}, 1), ts, torch::Tensor());
}

torch::Tensor Ldsr::eps_tiled(const torch::Tensor& z, const torch::Tensor& lr, int64_t t) {
    // The crops of the picture go with the latent's (both unfolded alike); ldm crops the pair.
    const auto both = torch::cat({z, lr}, 1);
    const int64_t zc = z.size(1);
    return ldsr_fold_crops(both, kCrop, kStride, 1, [&](const torch::Tensor& crop, int64_t) {
        return eps(crop.narrow(1, 0, zc), crop.narrow(1, zc, crop.size(1) - zc), t);
    });
}

torch::Tensor Ldsr::decode_tiled(const torch::Tensor& z) {
    const auto scaled = z / scale_factor;
    return ldsr_fold_crops(scaled, kCrop, kStride, kVqFactor, [&](const torch::Tensor& crop, int64_t) { return first_stage->decode(crop); });
}

torch::Tensor Ldsr::sample(const torch::Tensor& lr, const LdsrRun& run) {
    const DdimSchedule s = ddim_schedule(alphas_cumprod, run.steps, 1.0);
    at::Generator gen = at::detail::createCPUGenerator(run.seed);
    const std::vector<int64_t> shape{lr.size(0), unet->cfg.out_channels, lr.size(2), lr.size(3)};
    auto x = torch::randn(shape, gen, lr.options());
    const size_t total = s.timesteps.size();
    for (size_t i = 0; i < total; ++i) {
        if (run.cancelled && run.cancelled()) throw Cancelled();
        const size_t index = total - 1 - i;
        const auto e = eps_tiled(x, lr, s.timesteps[index]);
        x = ddim_step(x, e, s, index, torch::randn(shape, gen, lr.options()));
        if (run.progress) run.progress(static_cast<int>(i + 1), static_cast<int>(total));
    }
    return x;
}

Image Ldsr::super_resolution(const Image& in, double target_scale, const LdsrRun& run) {
    torch::NoGradGuard no_grad;
    Image img = imaging::to_rgb(in);
    const double rate = target_scale / 4;
    // np.ceil(width * rate), as A1111 computes the size it samples at.
    const int wd = static_cast<int>(std::ceil(img.width * rate)), hd = static_cast<int>(std::ceil(img.height * rate));
    if (rate != 1) img = imaging::resize(img, wd, hd, imaging::Filter::kLanczos);
    const int pw = std::max(2, (img.width + 63) / 64) * 64, ph = std::max(2, (img.height + 63) / 64) * 64;
    auto pic = torch::from_blob(img.pixels.data(), {img.height, img.width, 3}, torch::kUInt8).to(torch::kFloat).div(255.0);
    // np.pad(mode="edge") at the right and bottom.
    pic = torch::nn::functional::pad(pic.permute({2, 0, 1}).unsqueeze(0),
                                     torch::nn::functional::PadFuncOptions({0, pw - img.width, 0, ph - img.height}).mode(torch::kReplicate));
    const auto lr = pic * 2.0 - 1.0;
    const auto z = sample(lr, run);
    auto out = decode_tiled(z).clamp(-1.0, 1.0).add(1.0).div(2.0).mul(255.0);
    // numpy's astype(uint8) truncates; then the crop to 4x the unpadded size.
    out = out[0].narrow(1, 0, 4 * img.height).narrow(2, 0, 4 * img.width).permute({1, 2, 0}).to(torch::kUInt8).contiguous();
    Image res{4 * img.width, 4 * img.height, 3, {}};
    res.pixels.assign(out.data_ptr<uint8_t>(), out.data_ptr<uint8_t>() + out.numel());
    return res;
}

}  // namespace sdgimp::models
