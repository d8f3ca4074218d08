// gimp-diffusion-cli bench: the UNet step (CFG batch of 2) and the VAE decode of full-size SD 1.5
// and SD 2.1 architectures with random weights, timed on this machine, with peak memory.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>
#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <torch/version.h>
#if TORCH_VERSION_MAJOR < 2
#include <torch/csrc/autograd/profiler_legacy.h>
#elif defined(GD_KINETO)
#include <torch/csrc/autograd/profiler_kineto.h>
#endif
#include <torch/cuda.h>

#include "../engine/device_choice.h"
#include "../engine/engine.h"
#include "../io/mapped_file.h"
#include "../io/safetensors_writer.h"
#include "../engine/model_info.h"
#include "../model_config.h"
#include "../models/attention.h"
#include "../models/cpu_gemm.h"
#include "../models/fused_ops.h"
#include "../models/unet.h"
#include "../models/taesd.h"
#include "../models/vae.h"
#include "../models/conv_weight_cache.h"
#include "../models/winograd_conv.h"
#include "../pipeline/cuda_graph_unet.h"
#include "../pipeline/sd_model.h"
#include "../sampling/noise.h"
#include "../pipeline/txt2img.h"
#include "../pipeline/upscale.h"
#include "../status.h"
#include "cli_commands.h"
#include "cli_options.h"
#include "cpu_memory_tracker.h"

namespace sdgimp::cli {
namespace {

UNetConfig unet_for(const std::string& arch) {
    UNetConfig u;
    u.channel_mult = {1, 2, 4, 4};
    u.attention_resolutions = {4, 2, 1};
    if (arch == "sd15") {
        u.context_dim = 768;
        u.num_heads = 8;
    } else {
        u.context_dim = 1024;
        u.num_head_channels = 64;
        u.use_linear_in_transformer = true;
        u.upcast_attention = true;
    }
    return u;
}

ModelConfig model_for(const std::string& arch) {
    ModelConfig c;
    c.has_unet = c.has_vae = c.has_text = true;
    c.unet = unet_for(arch);
    c.vae.ch_mult = {1, 2, 4, 4};
    if (arch == "sd15") {
        c.family = ModelFamily::kSD1;
    } else {
        c.family = ModelFamily::kSD2;
        c.prediction = Prediction::kV;
        c.text.kind = TextEncoderKind::kOpenCLIP;
        c.text.width = 1024;
        c.text.layers = 24;
        c.text.heads = 16;
        c.text.mlp = 4096;
        c.text.penultimate = true;
    }
    return c;
}

// A full-size checkpoint of this layout with random weights, named as A1111's files are.
void write_random_checkpoint(const std::string& arch, const std::string& path) {
    auto m = pipeline::random_sd_model(model_for(arch));
    std::vector<io::FloatTensor> tensors;
    auto add = [&](const std::string& name, const torch::Tensor& t) {
        const auto c = t.to(torch::kFloat).contiguous();
        tensors.push_back({name, c.sizes().vec(), std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel())});
    };
    for (const auto& kv : m->net->named_parameters()) add(kv.key(), kv.value());
    for (const auto& kv : m->net->named_buffers())
        if (kv.value().is_floating_point()) add(kv.key(), kv.value());
    m.reset();
    io::write_safetensors(path, tensors);
}

// Seconds to read the whole file with read(2): what "in about the time it takes to read the file" means.
double read_file_seconds(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) throw Error(ErrorCode::kModelNotFound, path + ": cannot be opened for reading.");
    std::vector<char> buf(size_t(64) << 20);
    const auto t0 = std::chrono::steady_clock::now();
    while (::read(fd, buf.data(), buf.size()) > 0) {
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ::close(fd);
    return s;
}


double peak_rss_gib() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_maxrss) / (1024.0 * 1024.0);
}

// Waits for queued GPU work, so a timer around an asynchronous launch measures the work itself.
void sync_device() {
    if (torch::cuda::is_available()) torch::cuda::synchronize();
}

// --profile: a Chrome trace of every op, from LibTorch 1.x's legacy profiler (the CPU builds) or
// LibTorch 2.x's Kineto profiler, which also records every GPU kernel (tests/bench/trace_summary.py
// sums them by kernel).
template <typename F>
void profiled(const std::string& path, F&& f) {
#if TORCH_VERSION_MAJOR < 2
    torch::autograd::profiler::RecordProfile guard(path);
    f();
#elif !defined(GD_KINETO)
    (void)f;
    throw Error(ErrorCode::kInvalidRequest, "--profile is left out of this build (-Dprofiler=false); profile " + path + " with a build that has it.");
#else
    namespace impl = torch::profiler::impl;
    const impl::ProfilerConfig config(impl::ProfilerState::KINETO);
    std::set<impl::ActivityType> activities{impl::ActivityType::CPU};
    if (torch::cuda::is_available()) activities.insert(impl::ActivityType::CUDA);
    torch::autograd::profiler::prepareProfiler(config, activities);
    torch::autograd::profiler::enableProfiler(config, activities);
    try {
        f();
        sync_device();  // the kernels launched in f end inside the trace
    } catch (...) {
        (void)torch::autograd::profiler::disableProfiler();
        throw;
    }
    // Throws (a c10::Error, reported by the CLI) where LibTorch was built without Kineto.
    if (auto result = torch::autograd::profiler::disableProfiler()) result->save(path);
#endif
}

template <typename F>
double seconds(F&& f, int repeat) {
    f();  // warm-up (allocations, lazy init)
    sync_device();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < repeat; ++i) f();
    sync_device();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / repeat;
}

template <typename F>
double time_once(F&& f) {
    sync_device();
    const auto t0 = std::chrono::steady_clock::now();
    f();
    sync_device();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// A timed against its baseline B in turn (so drift on a shared machine hits both), `rounds` times:
// the median seconds of each.
template <typename FA, typename FB>
std::pair<double, double> interleaved_medians(int rounds, FA&& a, FB&& b) {
    std::vector<double> ta, tb;
    for (int i = 0; i < rounds; ++i) {
        ta.push_back(time_once(a));
        tb.push_back(time_once(b));
    }
    return {median(ta), median(tb)};
}

}  // namespace

int cmd_bench(const std::vector<std::string>& args) {
    const Options o = parse_options(args, {});
    const std::string arch = o.get("arch", "sd21"), what = o.get("what", "all");
    const int size = o.get_int("size", arch == "sd15" ? 512 : 768), repeat = o.get_int("repeat", 1);
    const std::string dtype_name = o.get("dtype", "float32");
    if (arch != "sd15" && arch != "sd21") throw Error(ErrorCode::kInvalidRequest, "--arch takes sd15 or sd21.");
    if (size % 64 || size < 64) throw Error(ErrorCode::kInvalidRequest, "--size must be a multiple of 64.");
    const auto dtype = dtype_name == "bfloat16" ? torch::kBFloat16 : dtype_name == "float16" ? torch::kFloat16 : torch::kFloat;
    const torch::Device device = parse_device(o.get("device", "cpu"));
    init_torch_threads();
    if (o.has("threads")) {
        // OpenBLAS keeps its own thread count: set it too, so "one thread" means one thread.
        at::set_num_threads(o.get_int("threads", 1));
        using SetFn = void (*)(int);
        if (auto set = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(o.get_int("threads", 1));
    }
    const bool tf32 = o.get("tf32", "0") == "1", cudnn_benchmark = device.is_cuda() && o.get("cudnn-benchmark", "0") == "1";
    if (device.is_cuda()) {
        // --cudnn-benchmark 1: cuDNN times its algorithms once per shape (the engine leaves this off:
        // no faster on an H200, and its trial workspaces raise the memory peak).
        at::globalContext().setBenchmarkCuDNN(cudnn_benchmark);
        // --tf32 1: float32 storage, TF32 tensor-core matmuls and convolutions (the 65.7 ms
        // row); otherwise true float32 (LibTorch lets cuDNN use TF32 by default).
        at::globalContext().setAllowTF32CuBLAS(tf32);
        at::globalContext().setAllowTF32CuDNN(tf32);
    }
    torch::manual_seed(0);
    torch::NoGradGuard ng;
    nlohmann::json report = {{"tf32", tf32}, {"cudnn_benchmark", cudnn_benchmark}, {"arch", arch}, {"size", size}, {"dtype", dtype_name}, {"device", o.get("device", "cpu")},
                             {"threads", at::get_num_threads()}, {"parallel_for_threads", models::parallel_for_threads()}};
    const int64_t lat = size / 8;
    // A full-size random model at --dtype on --device, set up as the engine sets up a loaded one.
    auto random_model_as_run = [&] {
        auto m = pipeline::random_sd_model(model_for(arch));
        if (dtype != torch::kFloat) m->set_precision(dtype);
        if (!device.is_cpu()) m->set_device(device);
        return m;
    };
    if (what == "all" || what == "unet") {
        models::UNet unet(unet_for(arch));
        models::init_random_weights(*unet);
        unet->to(device, dtype);
        auto x = torch::randn({2, 4, lat, lat}).to(device, dtype);
        if (o.has("channels-last")) {
            models::channels_last_weights(*unet);
            x = x.contiguous(torch::MemoryFormat::ChannelsLast);
        }
        auto t = torch::full({2}, 500.0f).to(device);
        auto ctx = torch::randn({2, 77, unet_for(arch).context_dim}).to(device, dtype);
        double s = 0;
        if (o.has("compare-unfused")) {
            // Fused kernels and LibTorch's ops in turn on the same weights.
            (void)unet->forward(x, t, ctx);
            const auto [fused, plain] = interleaved_medians(std::max(repeat, 3), [&] { (void)unet->forward(x, t, ctx); }, [&] {
                models::UnfusedOpsGuard unfused;
                (void)unet->forward(x, t, ctx);
            });
            s = fused;
            report["unet_step_unfused_s"] = plain;
            report["unet_fused_speedup"] = plain / s;
        } else {
            s = seconds([&] { (void)unet->forward(x, t, ctx); }, repeat);
        }
        report["unet_step_cfg2_s"] = s;
        if (o.has("token-merging-ratio")) {
            // A1111's token merging against the plain step on the same weights, in turn.
            const double ratio = o.get_double("token-merging-ratio", 0.5);
            const auto [merged, plain] = interleaved_medians(std::max(repeat, 3), [&] { (void)unet->forward(x, t, ctx, ratio); },
                                                             [&] { (void)unet->forward(x, t, ctx); });
            report["token_merging_ratio"] = ratio;
            report["unet_step_token_merging_s"] = merged;
            report["unet_step_plain_s"] = plain;
            report["token_merging_speedup"] = plain / merged;
            std::cerr << "token merging " << ratio << ": " << merged << " s against " << plain << " s\n";
        }
        if (device.is_cuda() && o.get("cuda-graphs", "0") == "1") {
            // The same step replayed from a captured CUDA graph (the eager figure above is the baseline).
            pipeline::CudaGraphUNet graph(unet);
            (void)graph.forward(x, t, ctx);  // eager warm-up; the next call (seconds()'s warm-up) captures
            const double sg = seconds([&] { (void)graph.forward(x, t, ctx); }, repeat);
            report["unet_step_cuda_graph_s"] = sg;
            report["cuda_graphs_captured"] = graph.captured_graphs();
            report["cuda_graph_speedup"] = s / sg;
        }
        if (o.has("profile")) {
            // One more step under LibTorch's profiler: a Chrome trace of every op, to see where time goes.
            profiled(o.get("profile"), [&] { (void)unet->forward(x, t, ctx); });
        }
        std::cerr << arch << " UNet step, CFG batch 2, " << size << "x" << size << ": " << s << " s\n";
    }
    if (what == "attention") {
        // The UNet's largest self-attention: 64x64 latent tokens (512 px), CFG batch 2, SD 1.5's 8 x 40 heads.
        const int64_t tokens = lat * lat;
        auto q = torch::randn({2, 8, tokens, 40}).to(device, dtype), k = torch::randn({2, 8, tokens, 40}).to(device, dtype);
        auto v = torch::randn({2, 8, tokens, 40}).to(device, dtype);
        // The baseline and the blocked version in turn, so drift on a shared machine hits both; medians.
        std::vector<double> base_t, gemm_t, fast_t, ratio, gemm_ratio;
        (void)models::attention(q, k, v);
        for (int i = 0; i < std::max(repeat, 3); ++i) {
            base_t.push_back(seconds([&] { (void)models::attention_unblocked(q, k, v); }, 1));
            gemm_t.push_back(seconds([&] { (void)models::attention_blocked_gemm(q, k, v); }, 1));
            fast_t.push_back(seconds([&] { (void)models::attention(q, k, v); }, 1));
            ratio.push_back(base_t.back() / fast_t.back());
            gemm_ratio.push_back(gemm_t.back() / fast_t.back());
        }
        report["self_attention_unblocked_s"] = median(base_t);
        report["self_attention_blocked_gemm_s"] = median(gemm_t);
        report["self_attention_s"] = median(fast_t);
        report["self_attention_speedup"] = median(ratio);
        report["self_attention_speedup_over_blocked_gemm"] = median(gemm_ratio);
        std::cerr << "self-attention " << tokens << " tokens: " << median(fast_t) << " s (whole-matrix baseline "
                  << median(base_t) << " s, blocks through the GEMM " << median(gemm_t) << " s)\n";
        report["attention_block_elems"] = models::attention_block_elems();
        report["onednn_sgemm"] = models::have_cpu_sgemm();
    }
    if (what == "conv3x3") {
        // 3x3 float32 convolutions at the sizes the upscaler, the VAE and the UNet run: Winograd
        // F(2x2, 3x3) with its transformed weight kept (as each layer keeps it) against LibTorch's
        // direct oneDNN convolution, interleaved medians, and whether the policy takes Winograd.
        struct Case { const char* name; int64_t n, c, k, hw; };
        const Case cases[] = {{"esrgan_body_128", 1, 64, 64, 128}, {"esrgan_up_512", 1, 64, 64, 512}, {"vae_top_512", 1, 128, 128, 512},
                              {"vae_mid_64", 1, 512, 512, 64}, {"unet_l0_512", 2, 320, 320, 64}, {"unet_up0_512", 2, 960, 320, 64},
                              {"unet_l1_512", 2, 640, 640, 32}, {"unet_l2_512", 2, 1280, 1280, 16}, {"unet_l3_512", 2, 1280, 1280, 8},
                              {"unet_l2_768", 2, 1280, 1280, 24}};
        for (const auto& k : cases) {
            auto x = torch::randn({k.n, k.c, k.hw, k.hw}).contiguous(torch::MemoryFormat::ChannelsLast);
            auto w = (torch::randn({k.k, k.c, 3, 3}) / std::sqrt(9.0 * k.c)).contiguous(torch::MemoryFormat::ChannelsLast);
            auto b = torch::randn({k.k});
            const auto u = models::winograd_weights(w);
            const auto ref = torch::conv2d(x, w, b, 1, 1);
            const double err = ((models::conv3x3_winograd(x, w, b, u) - ref).abs().max() / ref.abs().max()).item<double>();
            const auto [wino, direct] = interleaved_medians(std::max(repeat, 3), [&] { (void)models::conv3x3_winograd(x, w, b, u); },
                                                            [&] { (void)torch::conv2d(x, w, b, 1, 1); });
            report[std::string(k.name) + "_winograd_taken"] = models::winograd_applies(x, w, 1, 1);
            // The layer's own choice among the three forms (models/conv_weight_cache.h).
            models::ConvWeightCache cache;
            (void)cache.convolve(x, w, b, 1, 1, true);
            report[std::string(k.name) + "_layer_s"] = seconds([&] { (void)cache.convolve(x, w, b, 1, 1, true); }, std::max(repeat, 3));
            report[std::string(k.name) + "_layer_form"] = static_cast<int>(cache.form());
            report[std::string(k.name) + "_winograd_s"] = wino;
            report[std::string(k.name) + "_direct_s"] = direct;
            report[std::string(k.name) + "_speedup"] = direct / wino;
            report[std::string(k.name) + "_max_err_rel_to_max"] = err;
        }
    }
    if (what == "groupnorm") {
        // GroupNorm+SiLU on the VAE decoder's largest activation (128 channels at full size), fused
        // kernel vs LibTorch's two ops, in both layouts; medians of interleaved runs.
        for (bool cl : {false, true}) {
            auto x = torch::randn({1, 128, size, size}).to(device, dtype);
            if (cl) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
            auto w = torch::rand({128}).to(device, dtype), b = torch::rand({128}).to(device, dtype);
            const auto [fused, plain] =
                interleaved_medians(std::max(repeat, 5), [&] { (void)models::group_norm_act(x, 32, w, b, 1e-6, true); },
                                    [&] { (void)models::group_norm_act(x, 32, w, b, 1e-6, true, false); });
            const std::string key = cl ? "groupnorm_silu_channels_last" : "groupnorm_silu_nchw";
            report[key + "_s"] = fused;
            report[key + "_unfused_s"] = plain;
            report[key + "_speedup"] = plain / fused;
        }
    }
    if (what == "kernels") {
        // The fused kernels on this device against the CPU reference (float32 on the CPU): the check
        // a GPU visit runs first, over shapes that take each code path (vector and single-element
        // passes, both layouts, odd sizes, a misaligned start). Exits non-zero when a kernel is off.
        bool ok = true;
        const double tol = dtype == torch::kFloat ? 2e-5 : dtype == torch::kHalf ? 2e-3 : 1.6e-2;  // one rounding
        // A contiguous copy of t on `opts` whose data starts one element past an aligned address.
        auto misaligned = [](const torch::Tensor& t, const torch::TensorOptions& opts) {
            return torch::empty({t.numel() + 1}, opts).narrow(0, 1, t.numel()).view(t.sizes()).copy_(t);
        };
        struct GnCase { int64_t n, c, h, w, groups; bool affine, shifted; };
        const GnCase gn_cases[] = {{2, 320, 24, 24, 32, true, false}, {3, 64, 1, 5, 8, true, false}, {2, 30, 37, 1, 3, true, false},
                                   {1, 2560, 12, 12, 32, true, false}, {1, 128, 96, 96, 32, false, false}, {2, 320, 8, 8, 32, true, true}};
        double gn_worst = 0;
        for (const auto& k : gn_cases) {
            for (bool cl : {false, true}) {
                auto x = torch::randn({k.n, k.c, k.h, k.w}) * 5 + 2;
                if (k.shifted) x = misaligned(x, x.options());
                if (cl) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
                torch::Tensor w, b;
                if (k.affine) {
                    w = torch::rand({k.c}) + 0.5;
                    b = torch::rand({k.c}) - 0.5;
                }
                const auto ref = models::group_norm_act(x, k.groups, w, b, 1e-6, true);
                auto xd = x.to(device, dtype);
                if (k.shifted) {  // keep the device copy misaligned too
                    xd = misaligned(xd, xd.options());
                    if (cl) xd = xd.contiguous(torch::MemoryFormat::ChannelsLast);
                }
                const auto got = models::group_norm_act(xd, k.groups, k.affine ? w.to(device, dtype) : w,
                                                        k.affine ? b.to(device, dtype) : b, 1e-6, true)
                                     .to(torch::kCPU, torch::kFloat);
                gn_worst = std::max(gn_worst, ((got - ref).abs() / (ref.abs() + 1)).max().item<double>());
            }
        }
        report["groupnorm_silu_max_rel_err"] = gn_worst;
        ok = ok && gn_worst < tol;
        double geglu_worst = 0;
        for (const auto& shape : std::vector<std::vector<int64_t>>{{2, 577, 2 * 1280}, {3, 7, 2 * 13}, {1, 4, 2 * 64}}) {
            const bool shifted = shape[2] == 2 * 64;
            auto g = torch::randn(shape) * 2;
            if (shifted) g = misaligned(g, g.options());
            const auto gref = models::geglu(g, false);
            auto gd = g.to(device, dtype);
            if (shifted) gd = misaligned(gd, gd.options());
            geglu_worst = std::max(geglu_worst, ((models::geglu(gd).to(torch::kCPU, torch::kFloat) - gref).abs() / (gref.abs() + 1))
                                                    .max().item<double>());
        }
        report["geglu_max_rel_err"] = geglu_worst;
        ok = ok && geglu_worst < tol;
        report["cuda_kernels_built"] = models::have_cuda_kernels();
        report["kernels_match_reference"] = ok;
        if (!ok) {
            std::cout << report.dump() << "\n";
            throw Error(ErrorCode::kInternal, "A fused kernel disagrees with its CPU reference on " + o.get("device", "cpu") + ".");
        }
    }
    if (what == "nv-noise" && o.has("reference")) {
        // The same comparison against draws saved on a GPU machine (tests/bench/cuda_randn_dump.py):
        // runs anywhere, case by case.
        const std::string ref_path = o.get("reference");
        std::ifstream jf(ref_path);
        if (!jf) throw Error(ErrorCode::kInvalidRequest, "Cannot read " + ref_path + ": pass the .json that cuda_randn_dump.py wrote.");
        const auto ref = nlohmann::json::parse(jf);
        const std::string bin_path = ref_path.substr(0, ref_path.size() - 5) + ".bin";
        std::ifstream bf(bin_path, std::ios::binary);
        std::vector<char> raw((std::istreambuf_iterator<char>(bf)), std::istreambuf_iterator<char>());
        if (raw.size() % 4) throw Error(ErrorCode::kInvalidRequest, bin_path + " is not a float32 file: rerun cuda_randn_dump.py.");
        const auto all = torch::from_blob(raw.data(), {static_cast<int64_t>(raw.size() / 4)}, torch::kFloat).clone();
        double worst = 0;
        std::unique_ptr<sampling::SeededGenerator> nv;
        nlohmann::json cases = nlohmann::json::array();
        for (const auto& c : ref.at("cases")) {
            const auto shape = c.at("shape").get<std::vector<int64_t>>();
            if (c.at("draw").get<int>() == 0) nv = std::make_unique<sampling::SeededGenerator>(sampling::NoiseSource::kNV, c.at("seed").get<uint64_t>());
            if (!nv) throw Error(ErrorCode::kInvalidRequest, ref_path + " starts with a later draw than a seed's first: rerun cuda_randn_dump.py.");
            const auto ours = nv->randn(shape);
            const int64_t off = c.at("offset").get<int64_t>();
            if (off + ours.numel() > all.numel()) throw Error(ErrorCode::kInvalidRequest, bin_path + " is shorter than its .json says.");
            const double d = (ours.flatten() - all.slice(0, off, off + ours.numel())).abs().max().item<double>();
            cases.push_back({{"seed", c.at("seed")}, {"shape", shape}, {"draw", c.at("draw")}, {"max_abs_diff", d}});
            worst = std::max(worst, d);
        }
        report["reference"] = {{"torch", ref.value("torch", "")}, {"device", ref.value("device", "")}};
        report["cases"] = cases;
        report["nv_vs_cuda_randn_max_abs_diff"] = worst;
    } else if (what == "nv-noise") {
        // A1111's "NV" source (our CPU Philox + Box-Muller) against the device's own randn for the same
        // seeds: three successive draws per seed, as a sampler makes them. Needs --device cuda.
        if (!device.is_cuda()) throw Error(ErrorCode::kInvalidRequest, "--what nv-noise compares with CUDA's randn: add --device cuda, or --reference a saved draw.");
        double worst = 0;
        for (uint64_t seed : {0ull, 1ull, 42ull, 3331645590ull, (1ull << 32) + 5}) {
            sampling::SeededGenerator nv(sampling::NoiseSource::kNV, seed);
            torch::cuda::manual_seed(seed);
            for (int draw = 0; draw < 3; ++draw) {
                const auto ours = nv.randn({1, 4, 96, 96});
                const auto cuda = torch::randn({1, 4, 96, 96}, torch::TensorOptions().device(device)).to(torch::kCPU);
                worst = std::max(worst, (ours - cuda).abs().max().item<double>());
            }
        }
        report["nv_vs_cuda_randn_max_abs_diff"] = worst;
        if (!(worst < 1e-4)) {
            std::cout << report.dump() << "\n";
            throw Error(ErrorCode::kInternal, "The NV noise source differs from CUDA's randn on this device.");
        }
    }
    if (what == "text") {
        // The text encoder on a new prompt and its negative (what a changed prompt costs before
        // the first step), full-size random weights, 77 tokens each.
        auto m = random_model_as_run();
        auto ids = torch::randint(1, 49406, {1, 77}, torch::kLong);
        report["text_encode_two_prompts_s"] = seconds([&] { (void)m->encode_text(ids); (void)m->encode_text(ids); }, repeat);
    }
    if (what == "sampler-overhead") {
        // Everything a step costs besides the network: the CFG batch assembly, the NaN check, the
        // guidance sum, the sampler's arithmetic and noise, timestep conversion, on the host where
        // the engine runs them, at this size; the network answers with a ready tensor. On a GPU
        // this time is added to every step's network time (the device waits for it).
        const int steps = o.get_int("steps", 30);
        pipeline::LatentModel lm;
        lm.schedule = sampling::ModelSchedule::linear(0.00085, 0.012, 1000);
        lm.prediction = arch == "sd21" ? Prediction::kV : Prediction::kEps;
        const torch::Tensor ready = torch::zeros({2, 4, lat, lat});
        lm.unet = [&](const torch::Tensor&) -> sampling::ModelFn {
            return [&](const torch::Tensor& x, const torch::Tensor&, const torch::Tensor&) { return ready.slice(0, 0, x.size(0)); };
        };
        const auto cond = torch::zeros({1, 77, 1024});
        const auto g = sampling::simple_guidance(cond, cond, 7.0);
        for (const char* name : {"Euler a", "DPM++ 2M"}) {
            pipeline::SamplingSettings ss;
            ss.sampler = sampling::find_sampler(name)->kind;
            ss.steps = steps;
            const double t = seconds([&] { (void)pipeline::txt2img_latents(lm, [&](int) { return g; }, {1}, size, size, ss); }, repeat);
            report[std::string("sampler_overhead_per_step_ms_") + (std::string(name) == "Euler a" ? "euler_a" : "dpmpp_2m")] = 1000 * t / steps;
            std::cerr << name << ": " << 1000 * t / steps << " ms per step besides the network at " << size << "x" << size << "\n";
        }
    }
    if (what == "image") {
        // A whole image as the plug-in makes one: two prompts through the text encoder, --steps Euler
        // steps with CFG (sampler on the CPU, networks on the device), the VAE decode.
        auto m = random_model_as_run();
        const int steps = o.get_int("steps", 30);
        auto ids = torch::full({1, 77}, 49407, torch::kLong);
        ids.index_put_({0, 0}, 49406);
        pipeline::SamplingSettings ss;
        ss.sampler = sampling::SamplerKind::kEuler;
        ss.steps = steps;
        bool finite = true;  // no NaN or infinity in any run's latents (SD 2.1 in float16 needs this)
        auto run = [&] {
            torch::NoGradGuard ng2;
            const auto cond = m->encode_text(ids), uncond = m->encode_text(ids);
            const auto g = sampling::simple_guidance(cond, uncond, 7.0);
            const auto lat = pipeline::txt2img_latents(m->latent_model(), [&](int) { return g; }, {1}, size, size, ss);
            finite = finite && torch::isfinite(lat).all().item<bool>();
            return pipeline::to_uint8_images(m->decode_first_stage(lat));
        };
        (void)run();  // warm-up: cuDNN algorithm choice, allocator growth
        std::vector<double> t;
        for (int i = 0; i < std::max(1, repeat); ++i) t.push_back(time_once([&] { (void)run(); }));
        report["image_steps"] = steps;
        if (device.is_cuda()) {
            // The caching allocator keeps what it reserved at the peak, so this is the run's high-water
            // mark plus the CUDA context (~0.5 GiB) and anything else on the device.
            report["device_memory_used_gib"] = static_cast<double>(models::cuda_device_memory_used_bytes()) / (1 << 30);
            const auto peaks = models::cuda_memory_peaks();
            report["allocated_peak_gib"] = static_cast<double>(peaks.allocated) / (1 << 30);
            report["reserved_peak_gib"] = static_cast<double>(peaks.reserved) / (1 << 30);
        }
        report["latents_finite"] = finite;
        report["image_s"] = median(t);
        std::cerr << arch << " whole image " << size << "x" << size << ", " << steps << " steps: " << median(t) << " s\n";
    }
    if (what == "write-checkpoint") {
        // A full-size random checkpoint to time loads against repeatedly (--out FILE).
        if (!o.has("out")) throw Error(ErrorCode::kInvalidRequest, "--what write-checkpoint needs --out FILE.");
        write_random_checkpoint(arch, o.get("out"));
    }
    if (what == "load") {
        // Loading a checkpoint (the page cache warm, as on a second GIMP session), against reading the
        // same file; then what a second call in the same session costs: the resident engine's reload
        // check and a one-step 64x64 generation (tokenising, text encoder, one small step, decode).
        std::string path = o.get("model");
        const bool scratch = path.empty();
        if (scratch) {
            path = o.get("scratch", "/tmp") + "/gimp-diffusion-bench-" + arch + ".safetensors";
            write_random_checkpoint(arch, path);
        }
        struct Cleanup {
            std::string p;
            ~Cleanup() {
                if (!p.empty()) ::unlink(p.c_str());
            }
        } cleanup{scratch ? path : ""};
        (void)read_file_seconds(path);  // warm the page cache
        report["file_gib"] = static_cast<double>(io::MappedFile::open(path)->size()) / (1 << 30);
        report["read_file_s"] = read_file_seconds(path);
        Engine engine;
        ModelRequest req;
        req.path = path;
        req.vocab = o.get("vocab");
        req.precision = dtype_name;
        req.device = o.get("device", "cpu");
        LoadedModel info;
        report["load_s"] = time_once([&] {
            const Status st = engine.load_model(req, &info);
            if (!st.ok) throw Error(st.code, st.message);
        });
        report["second_load_call_s"] = time_once([&] { (void)engine.load_model(req, nullptr); });
        if (o.has("vocab")) {
            GenerateRequest r;
            r.prompt = "a lighthouse at dusk";
            r.steps = 1;
            r.seed = 1;
            r.width = r.height = 64;
            std::vector<GeneratedImage> out;
            // Twice: the first also faults the mapped weights in from the page cache.
            auto generate = [&](const RunCallbacks& cb) {
                out.clear();
                const Status st = engine.txt2img(r, cb, &out);
                if (!st.ok) throw Error(st.code, st.message);
            };
            report["second_call_one_step_64px_s"] = time_once([&] { generate({}); });
            report["third_call_one_step_64px_s"] = time_once([&] { generate({}); });
            if (o.has("profile")) {
                profiled(o.get("profile"), [&] { generate({}); });
            }
            // The part before the first step: tokenising and the text encoder on both prompts.
            RunCallbacks cb;
            double first_step_at = 0;
            auto t0 = std::chrono::steady_clock::now();
            cb.progress = [&](int done, int) {
                if (done == 1) first_step_at = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            };
            auto to_first_step = [&] {
                first_step_at = 0;
                t0 = std::chrono::steady_clock::now();
                generate(cb);
                return first_step_at;
            };
            report["call_to_first_step_done_64px_s"] = to_first_step();
            // An edited prompt (the negative prompt unchanged): one prompt through the text encoder.
            r.prompt = "a lighthouse at dawn";
            report["new_prompt_to_first_step_done_64px_s"] = to_first_step();
        }
        std::cerr << "load " << report["load_s"] << " s, read " << report["read_file_s"] << " s\n";
    }
    if (what == "upscaler") {
        // The default learned upscaler (UpscalerJS esrgan-thick x4) on a 128x128 image (one tile), or
        // with --image-size N on a bigger one, tiled (192 px tiles): tiles in parallel against tiles
        // one after another, interleaved, medians.
        pipeline::Upscalers ups;
        const int side = o.get_int("image-size", 128);
        Image img{side, side, 3, std::vector<uint8_t>(size_t(side) * side * 3)};
        for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>((i * 2654435761u) >> 24);
        if (side <= 192) {
            const double s = seconds([&] { (void)ups.upscale(img, "esrgan-thick-x4", 4.0); }, repeat);
            report["esrgan_thick_x4_128_s"] = s;
            std::cerr << "esrgan-thick x4, " << side << "x" << side << ": " << s << " s\n";
        } else {
            pipeline::UpscaleOptions par, ser;
            ser.parallel_tiles = false;
            par.parallel_tiles_min_threads = 2;
            Image a, b;
            const auto [parallel, serial] =
                interleaved_medians(std::max(repeat, 3), [&] { a = ups.upscale(img, "esrgan-thick-x4", 4.0, par); },
                                    [&] { b = ups.upscale(img, "esrgan-thick-x4", 4.0, ser); });
            report["image_size"] = side;
            report["esrgan_thick_x4_parallel_tiles_s"] = parallel;
            report["esrgan_thick_x4_serial_tiles_s"] = serial;
            report["parallel_tiles_speedup"] = serial / parallel;
            report["same_pixels"] = a.pixels == b.pixels;
        }
        if (o.has("profile")) {
            profiled(o.get("profile"), [&] { (void)ups.upscale(img, "esrgan-thick-x4", 4.0); });
        }
    }
    if (what == "all" || what == "vae") {
        VAEConfig vc;
        vc.ch_mult = {1, 2, 4, 4};
        models::AutoencoderKL vae(vc);
        models::init_random_weights(*vae);
        vae->to(device, dtype);
        auto z = torch::randn({1, 4, lat, lat}).to(device, dtype);
        if (o.has("channels-last")) {
            models::channels_last_weights(*vae);
            z = z.contiguous(torch::MemoryFormat::ChannelsLast);
        }
        double s = 0;
        if (o.has("track-memory") && device.is_cpu()) {
            // What the decode holds beyond the weights at its peak (as a GPU's "allocated"), and that
            // the banded upsampling convolutions give the same image as the whole-tensor ones.
            auto& tracker = CpuMemoryTracker::installed();
            (void)vae->decode(z);  // the layers' weight forms are made on the first call
            torch::Tensor banded;
            for (bool bands : {true, false}) {
                models::UpsampleBandsGuard guard(bands);
                const int64_t before = tracker.live();
                tracker.reset_peak();
                torch::Tensor img;
                report[bands ? "vae_decode_banded_s" : "vae_decode_unbanded_s"] = time_once([&] { img = vae->decode(z); });
                report[bands ? "vae_decode_peak_gib" : "vae_decode_peak_unbanded_gib"] =
                    static_cast<double>(tracker.peak() - before) / (1 << 30);
                if (bands) banded = img;
                {
                    // The largest upsampling alone: 256 channels from size/2 to size.
                    models::Conv2d conv(256, 256, 3, 1, 1);
                    conv->to(dtype);
                    auto seq = torch::nn::Sequential(conv);
                    models::init_random_weights(*seq);
                    auto xin = torch::randn({1, 256, size / 2, size / 2}).to(dtype).contiguous(torch::MemoryFormat::ChannelsLast);
                    (void)models::upsample2x_conv(xin, conv);
                    const int64_t b0 = tracker.live();
                    tracker.reset_peak();
                    (void)models::upsample2x_conv(xin, conv);
                    report[bands ? "upsample_peak_gib" : "upsample_peak_unbanded_gib"] = static_cast<double>(tracker.peak() - b0) / (1 << 30);
                }
                if (!bands) report["banded_max_abs_diff"] = (banded.to(torch::kFloat) - img.to(torch::kFloat)).abs().max().item<double>();
            }
        }
        if (o.has("compare-unfused")) {
            // The fused GroupNorm+SiLU path and LibTorch's ops in turn (same weights, same run).
            (void)vae->decode(z);
            const auto [fused, plain] = interleaved_medians(std::max(repeat, 3), [&] { (void)vae->decode(z); }, [&] {
                models::UnfusedOpsGuard unfused;
                (void)vae->decode(z);
            });
            s = fused;
            report["vae_decode_unfused_s"] = plain;
            report["vae_fused_speedup"] = plain / s;
        } else {
            s = seconds([&] { (void)vae->decode(z); }, repeat);
        }
        report["vae_decode_s"] = s;
        if (o.has("taesd")) {
            // A1111's "VAE type for decode: TAESD" on the same latent (LibTorch's initial weights:
            // the time depends on the layout only).
            auto taesd = models::taesd_decoder();
            models::init_random_weights(*taesd);
            taesd->to(device, torch::kFloat);
            const auto z32 = z.to(torch::kFloat).contiguous();
            (void)models::taesd_decode(taesd, z32);
            const double t = seconds([&] { (void)models::taesd_decode(taesd, z32); }, repeat);
            report["taesd_decode_s"] = t;
            report["taesd_speedup_vs_vae"] = s / t;
        }
        if (dtype != torch::kFloat && o.has("compare-float32")) {
            // The same random weights in float32: the baseline time and how close the images are.
            models::AutoencoderKL ref(vc);  // weights copied in below
            auto src = vae->named_parameters(), dst = ref->named_parameters();
            for (auto& kv : src) dst[kv.key()].set_data(kv.value().to(torch::kFloat).contiguous());
            const auto z32 = z.to(torch::kFloat).contiguous();
            const double s32 = seconds([&] { (void)ref->decode(z32); }, repeat);
            auto to_u8 = [](const torch::Tensor& d) { return ((d.to(torch::kFloat) + 1) / 2).clamp(0, 1).mul(255).floor(); };
            const auto a = to_u8(ref->decode(z32)), b = to_u8(vae->decode(z));
            const double mse = (a - b).pow(2).mean().item<double>();
            report["vae_decode_float32_s"] = s32;
            report["vae_speedup_vs_float32"] = s32 / s;
            report["vae_psnr_vs_float32_db"] = mse == 0 ? 99.0 : 10 * std::log10(255.0 * 255.0 / mse);
        }
        if (o.has("profile") && what == "vae") {
            profiled(o.get("profile"), [&] { (void)vae->decode(z); });
        }
        std::cerr << "VAE decode " << size << "x" << size << ": " << s << " s\n";
    }
    report["peak_rss_gib"] = peak_rss_gib();
    std::cout << report.dump() << "\n";
    return 0;
}

}  // namespace sdgimp::cli
