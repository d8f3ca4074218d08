#include "sd_model.h"

#include <cstdlib>
#include <fstream>

#include "../io/checkpoint_file.h"
#include "../io/checkpoint_keys.h"
#include "../models/taesd.h"
#include "../status.h"

namespace sdgimp::pipeline {

namespace {

// A device result as a contiguous float32 host tensor. From a GPU it lands in page-locked memory
// (LibTorch keeps and reuses those blocks), which the copy engine writes directly instead of
// staging through a pageable bounce buffer.
torch::Tensor to_host_float(const torch::Tensor& t) {
    if (!t.is_cuda()) return t.to(torch::kCPU, torch::kFloat).contiguous();
    const auto f = t.to(torch::kFloat).contiguous();
    auto h = torch::empty(f.sizes(), f.options().device(torch::kCPU).pinned_memory(true));
    h.copy_(f);
    return h;
}

}  // namespace

sampling::ModelFn SDModel::unet_fn(const torch::Tensor& concat, double token_merging_ratio) const {
    models::UNet unet = net->unet;
    const torch::ScalarType dt = precision;
    const torch::Device dev = device;
    // Graphs are captured without merging; a merging call runs eagerly.
    const std::shared_ptr<CudaGraphUNet> graph = token_merging_ratio > 0 ? nullptr : cuda_graph;
    return [unet, concat, dt, dev, graph, token_merging_ratio](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& cond) mutable {
        torch::NoGradGuard ng;
        // The sampler works in float32; only the network runs at the model's precision (as A1111's half mode).
        torch::Tensor in = x;
        if (concat.defined()) {
            auto c = concat.size(0) == x.size(0) ? concat : concat.repeat({x.size(0) / concat.size(0), 1, 1, 1});
            in = torch::cat({x, c}, 1);
        }
        // On the CPU in float32 these conversions are no-ops.
        const auto din = in.to(dev, dt).contiguous(torch::MemoryFormat::ChannelsLast);
        const auto tdev = t.to(dev, torch::kFloat), cdev = cond.to(dev, dt);
        // The copy to the host also reads the graph's output before its next replay.
        // Hypertile draws its tiles per call, which a replayed graph would not.
        const bool replay = graph && !unet->attention_call->hypertile;
        const auto out = replay ? graph->forward(din, tdev, cdev) : unet->forward(din, tdev, cdev, token_merging_ratio);
        return to_host_float(out);
    };
}

void SDModel::set_precision(torch::ScalarType dtype) {
    precision = dtype;
    net->unet->to(dtype);
    // The decoder runs at this precision; the encoder (once per image, and feeding 9-channel models'
    // conditioning) stays float32.
    net->vae->decoder->to(dtype);
    net->vae->post_quant_conv->to(dtype);
    text_precision();
    use_channels_last();
    // Converted weights are copies already: on the CPU they are laid out channels-last once more,
    // so that the layers keeping that form share them instead of holding a second copy.
    if (!device.is_cuda() && dtype != torch::kFloat) {
        models::channels_last_weights(*net->vae->decoder);
        models::channels_last_weights(*net->unet);
    }
}

void SDModel::text_precision() {
    // On a GPU the text encoder runs at the model's precision too, as A1111's half mode does (it is
    // a quarter of SD 2.1's weights); on the CPU it stays float32 (it runs once per prompt).
    net->text->to(device.is_cuda() ? precision : torch::kFloat);
    // Its token table and never-run last block stay in host memory (lower peak on the device).
    if (device.is_cuda()) net->text->keep_on_host();
}

void SDModel::set_tiling(bool on) {
    if (on == tiling) return;
    tiling = on;
    models::set_circular_padding(*net, on);
    // Graphs captured with the other padding would replay it: captured again on their next calls.
    reset_cuda_graphs();
}

void SDModel::reset_cuda_graphs() {
    if (cuda_graph) cuda_graph = std::make_shared<CudaGraphUNet>(net->unet);
}

void SDModel::set_hypernetworks(std::shared_ptr<const models::HypernetworkSet> set, const std::string& key) {
    if (key == hypernetwork_key) return;
    std::shared_ptr<models::HypernetworkSet> here;
    if (set) {
        here = std::make_shared<models::HypernetworkSet>();
        for (const auto& [hn, multiplier] : set->nets)
            here->nets.emplace_back(std::make_shared<const models::Hypernetwork>(hn->to(device, precision)), multiplier);
    }
    models::set_hypernetworks(*net->unet, here);
    hypernetwork_key = key;
    // Captured graphs replay the attention layers as they were.
    reset_cuda_graphs();
}

void SDModel::set_device(torch::Device d) {
    device = d;
    // The layers' CPU weight forms would otherwise stay in host memory for nothing.
    if (!d.is_cpu()) models::clear_conv_weight_forms(*net);
    if (d.is_cuda()) {
        // The VAE encoder (img2img, inpainting) joins the GPU on its first use (encode_posterior):
        // txt2img leaves its weights in host memory, which lowers the peak it holds on the device.
        net->unet->to(d);
        net->text->to(d);
        net->vae->decoder->to(d);
        net->vae->post_quant_conv->to(d);
    } else {
        net->to(d);
    }
    text_precision();
    const char* graphs = std::getenv("GIMP_DIFFUSION_CUDA_GRAPHS");
    cuda_graph.reset();
    if (d.is_cuda() && CudaGraphUNet::available() && !(graphs && std::string(graphs) == "0"))
        cuda_graph = std::make_shared<CudaGraphUNet>(net->unet);
    use_channels_last();
}

void SDModel::use_channels_last() {
    // cuDNN's convolutions run without reordering inputs and weights in channels-last layout (UNet
    // and VAE decoder), float32 and bfloat16 alike. On the CPU each convolution layer keeps its
    // weight in the form it runs fastest in (models/conv_weight_cache.h), so the weights stay as
    // loaded: where they can be, views of the mapped checkpoint that cost no memory of their own.
    // The activations are channels-last on both (LibTorch 1.13's own channels-last bfloat16
    // GroupNorm gives wrong images; the fused kernel in models/fused_ops takes every one here).
    if (!device.is_cuda()) return;
    models::channels_last_weights(*net->vae->decoder);
    models::channels_last_weights(*net->unet);
}

torch::Tensor SDModel::encode_text(const torch::Tensor& ids, int clip_skip, const std::vector<models::TokenFix>& fixes) const {
    torch::NoGradGuard ng;
    if (device.is_cpu()) return net->text->forward(ids, clip_skip, fixes);
    // The ids stay on the host, where the token table is looked up (TextEncoder::keep_on_host).
    return to_host_float(net->text->forward(ids, clip_skip, fixes));
}

torch::Tensor decode_checked(const std::function<torch::Tensor()>& decode, const std::function<bool()>& to_float32) {
    torch::Tensor image = decode();
    if (torch::isfinite(image).all().item<bool>()) return image;
    // A1111's "automatically revert VAE to 32-bit floats": a half-precision decoder overflowed
    // (float16's range ends at 65504); it decodes in float32 from now on, this image included.
    if (to_float32()) {
        image = decode();
        if (torch::isfinite(image).all().item<bool>()) return image;
    }
    throw Error(ErrorCode::kInternal,
                "The VAE produced NaNs decoding this image, even in float32; the model's VAE is damaged or cannot decode it (try another model).");
}

torch::Tensor SDModel::decode_first_stage(const torch::Tensor& latent) const {
    torch::NoGradGuard ng;
    if (taesd_decoder) return models::taesd_decode(taesd_decoder, latent);
    return vae_decode(latent);
}

torch::Tensor SDModel::vae_decode(const torch::Tensor& latent) const {
    torch::NoGradGuard ng;
    auto decode_all = [this, &latent]() {
        // At the decoder's own precision: the model's, or float32 once it overflowed.
        const torch::Tensor z = ((1.0 / cfg.scale_factor) * latent).to(net->vae->post_quant_conv->weight.scalar_type());
        auto decode = [this](const torch::Tensor& t) {
            return to_host_float(net->vae->decode(t.to(device).contiguous(torch::MemoryFormat::ChannelsLast)));
        };
        // Under Hypertile's VAE setting the middle attention already runs over tiles (its memory is
        // small), and A1111 decodes the whole image: one draw per decode, as there.
        const models::Hypertile* ht = net->vae->decoder->mid->attn_1->hypertile;
        if ((ht && ht->settings().vae) || !vae_tiling.applies(z.size(2), z.size(3))) return decode(z);
        return run_tiled(decode, z, vae_tiling.tile, vae_tiling.overlap, 8, 1);
    };
    auto to_float32 = [this]() {
        if (net->vae->post_quant_conv->weight.scalar_type() == torch::kFloat) return false;
        net->vae->decoder->to(torch::kFloat);
        net->vae->post_quant_conv->to(torch::kFloat);
        return true;
    };
    return decode_checked(decode_all, to_float32);
}

std::pair<torch::Tensor, torch::Tensor> SDModel::encode_posterior(const torch::Tensor& image) const {
    torch::NoGradGuard ng;
    if (net->vae->quant_conv->weight.device() != device) {
        net->vae->encoder->to(device);
        net->vae->quant_conv->to(device);
    }
    // Moments (mean, logvar) are blended per tile; both are smooth fields, so blending them is sound.
    auto encode = [this](const torch::Tensor& t) { return to_host_float(net->vae->encode_moments(t.to(device, torch::kFloat))); };
    // Tiles map onto whole latent pixels: a size that is no multiple of 8 (A1111's Hires. fix makes
    // such) loses its last few pixels there, which only border the last latent row and column.
    auto moments = vae_tiling.applies(image.size(2) / 8, image.size(3) / 8)
                       ? run_tiled(encode, image.slice(2, 0, image.size(2) / 8 * 8).slice(3, 0, image.size(3) / 8 * 8),
                                   vae_tiling.tile * 8, vae_tiling.overlap * 8, 1, 8)
                       : encode(image);
    auto parts = moments.chunk(2, 1);
    auto logvar = parts[1].clamp(-30.0, 20.0);
    return {parts[0], torch::exp(0.5 * logvar)};
}

torch::Tensor SDModel::encode_init_latent(const torch::Tensor& image, const std::function<torch::Tensor(const torch::Tensor& mean)>& eps) const {
    // TAESD takes the [0, 1] image and gives scaled latents, with nothing drawn.
    if (taesd_encoder) return models::taesd_encode(taesd_encoder, (image + 1) * 0.5);
    auto [mean, std] = encode_posterior(image);
    return cfg.scale_factor * (mean + std * eps(mean));
}

torch::Tensor SDModel::txt2img_concat(int64_t height, int64_t width) const {
    const auto lat = taesd_encoder ? models::taesd_encode(taesd_encoder, torch::full({1, 3, height, width}, 0.5))
                                   : cfg.scale_factor * encode_posterior(torch::zeros({1, 3, height, width})).first;
    return torch::cat({torch::ones({1, 1, lat.size(2), lat.size(3)}, lat.options()), lat}, 1);
}

LatentModel SDModel::latent_model(bool downcast_alphas, bool zero_terminal_snr, double token_merging_ratio) const {
    LatentModel l;
    l.unet = [this, token_merging_ratio](const torch::Tensor& concat) { return unet_fn(concat, token_merging_ratio); };
    l.schedule = downcast_alphas || zero_terminal_snr ? schedule.alpha_override(downcast_alphas, zero_terminal_snr) : schedule;
    l.prediction = cfg.prediction;
    l.latent_channels = cfg.unet.out_channels;
    l.in_channels = cfg.unet.in_channels;
    return l;
}

void SDModel::set_hypertile(models::Hypertile* h) const {
    net->unet->attention_call->hypertile = h;
    net->vae->decoder->mid->attn_1->hypertile = h;
}

torch::Tensor ImageCodec::init_latent(const torch::Tensor& image, const std::function<torch::Tensor(const torch::Tensor& mean)>& eps) const {
    if (encode_init_latent) return encode_init_latent(image, eps);
    auto [mean, std] = encode_posterior(image);
    return scale_factor * (mean + std * eps(mean));
}

ImageCodec SDModel::codec() const {
    ImageCodec c;
    c.decode_first_stage = [this](const torch::Tensor& z) { return decode_first_stage(z); };
    c.encode_posterior = [this](const torch::Tensor& image) { return encode_posterior(image); };
    c.encode_init_latent = [this](const torch::Tensor& image, const std::function<torch::Tensor(const torch::Tensor&)>& eps) {
        return encode_init_latent(image, eps);
    };
    c.scale_factor = cfg.scale_factor;
    return c;
}

namespace {

// What every model needs once its weights are in: inference mode, its layout, its noise schedule.
void ready_to_run(SDModel& m) {
    m.net->eval();
    m.use_channels_last();
    m.schedule = sampling::ModelSchedule::linear(m.cfg.schedule.linear_start, m.cfg.schedule.linear_end, m.cfg.schedule.timesteps);
}

}  // namespace

std::shared_ptr<SDModel> load_sd_model(const std::string& path, std::optional<Prediction> prediction) {
    io::CheckpointFile ck = io::open_checkpoint(path);
    io::TensorMap tensors = io::normalize_sd_keys(std::move(ck.tensors));
    auto m = std::make_shared<SDModel>();
    m->path = path;
    m->cfg = load_model_config(path, tensors, prediction);
    if (!m->cfg.has_unet || !m->cfg.has_vae || !m->cfg.has_text) {
        throw Error(ErrorCode::kModelMismatch,
                    path + ": is a " + family_name(m->cfg.family) +
                        " file, not a complete Stable Diffusion checkpoint (UNet, VAE and text encoder); choose an SD 1.x or 2.x model.");
    }
    if (m->cfg.family == ModelFamily::kSDXL)
        throw Error(ErrorCode::kModelMismatch, path + ": " + family_name(m->cfg.family) + " models are not supported yet; choose an SD 1.x or 2.x model.");
    m->net = models::LatentDiffusion(m->cfg);
    m->report = models::load_state(*m->net, tensors, "");
    if (!m->report.ok()) {
        std::string first = !m->report.mismatched.empty() ? m->report.mismatched[0]
                            : !m->report.missing.empty() ? "missing " + m->report.missing[0]
                                                         : "unexpected " + m->report.unexpected[0];
        throw Error(ErrorCode::kModelMismatch,
                    path + ": the weights do not fit the detected " + model_kind(m->cfg) + " layout (" + first +
                        "); check that the file and its .yaml belong together.");
    }
    ready_to_run(*m);
    return m;
}

void load_vae_weights(SDModel& m, const std::string& vae_path) {
    io::CheckpointFile ck = io::open_checkpoint(vae_path);
    const std::string full = "first_stage_model.";
    bool is_full = false;
    for (const auto& kv : ck.tensors) is_full = is_full || kv.first.rfind(full, 0) == 0;
    io::TensorMap vae;
    for (auto& [key, t] : ck.tensors) {
        // As A1111 reads VAE files: their training loss and EMA counters are not weights.
        if (is_full ? key.rfind(full, 0) != 0 : key.rfind("loss", 0) == 0 || key == "model_ema.decay" || key == "model_ema.num_updates")
            continue;
        vae[is_full ? key.substr(full.size()) : key] = t;
    }
    const models::LoadReport r = models::load_state(*m.net->vae, vae, "");
    if (!r.ok() || r.loaded == 0) {
        const std::string first = !r.mismatched.empty() ? r.mismatched[0]
                                  : !r.missing.empty()  ? "missing " + r.missing[0]
                                  : !r.unexpected.empty() ? "unexpected " + r.unexpected[0]
                                                          : "no weights";
        throw Error(ErrorCode::kModelMismatch, vae_path + ": is not a VAE for this " + model_kind(m.cfg) + " model (" + first +
                                                   "); choose a VAE of its family (e.g. vae-ft-mse-840000-ema-pruned for SD 1.x) or None.");
    }
}

std::optional<std::string> vae_near_checkpoint(const std::string& checkpoint_path) {
    const size_t slash = checkpoint_path.find_last_of('/');
    const size_t dot = checkpoint_path.find_last_of('.');
    const std::string stem = dot != std::string::npos && (slash == std::string::npos || dot > slash) ? checkpoint_path.substr(0, dot)
                                                                                                     : checkpoint_path;
    for (const char* ext : {".vae.pt", ".vae.ckpt", ".vae.safetensors"})
        if (std::ifstream(stem + ext).good()) return stem + ext;
    return std::nullopt;
}

std::shared_ptr<SDModel> random_sd_model(const ModelConfig& cfg) {
    auto m = std::make_shared<SDModel>();
    m->cfg = cfg;
    m->path = "(random weights)";
    m->net = models::LatentDiffusion(cfg);
    models::init_random_weights(*m->net);
    ready_to_run(*m);
    return m;
}

torch::Tensor to_uint8_images(const torch::Tensor& decoded) {
    auto x = torch::clamp((decoded + 1.0) / 2.0, 0.0, 1.0);
    return (255.0 * x).to(torch::kUInt8).permute({0, 2, 3, 1}).contiguous();
}

Image rgb_image(const torch::Tensor& hwc_uint8) {
    const auto t = hwc_uint8.to(torch::kCPU).contiguous();
    return Image{static_cast<int>(t.size(1)), static_cast<int>(t.size(0)), 3,
                 std::vector<uint8_t>(t.data_ptr<uint8_t>(), t.data_ptr<uint8_t>() + t.numel())};
}

torch::Tensor unit_tensor(const Image& img) {
    auto px = torch::from_blob(const_cast<uint8_t*>(img.pixels.data()), {img.height, img.width, img.channels}, torch::kUInt8);
    return px.slice(2, 0, 3).permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat) / 255.0;
}

}  // namespace sdgimp::pipeline
