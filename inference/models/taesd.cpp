#include "taesd.h"

#include "../io/checkpoint_file.h"
#include "../status.h"
#include "module_slots.h"
#include "state_loader.h"

namespace sdgimp::models {

namespace {

// The project's convolution (Winograd / cached weight forms on the CPU): about 3x LibTorch's here.
Conv2d conv3(int64_t in, int64_t out, int64_t stride = 1, bool bias = true) { return Conv2d(in, out, 3, stride, 1, bias); }

// Three convolutions with ReLUs between them, added to the input and rectified; the keys are
// "conv.0", "conv.2", "conv.4" as in the file (TAESD's blocks keep their width, so no skip conv).
struct TaesdBlockImpl : torch::nn::Module {
    torch::nn::Sequential conv;
    TaesdBlockImpl() {
        conv = register_module("conv", torch::nn::Sequential(conv3(64, 64), torch::nn::ReLU(), conv3(64, 64), torch::nn::ReLU(),
                                                             conv3(64, 64)));
    }
    torch::Tensor forward(const torch::Tensor& x) { return torch::relu(conv->forward(x) + x); }
};
TORCH_MODULE(TaesdBlock);

torch::nn::Upsample upsample2() {
    return torch::nn::Upsample(torch::nn::UpsampleOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest));
}

}  // namespace

torch::nn::Sequential taesd_decoder() {
    torch::nn::Sequential s;
    // A1111's Clamp: latents softly limited to +-3 before the first convolution.
    s->push_back(torch::nn::Functional([](const torch::Tensor& x) { return torch::tanh(x / 3) * 3; }));
    s->push_back(conv3(4, 64));
    s->push_back(torch::nn::ReLU());
    for (int stage = 0; stage < 3; ++stage) {
        for (int b = 0; b < 3; ++b) s->push_back(TaesdBlock());
        s->push_back(upsample2());
        s->push_back(conv3(64, 64, 1, false));
    }
    s->push_back(TaesdBlock());
    s->push_back(conv3(64, 3));
    return s;
}

torch::nn::Sequential taesd_encoder() {
    torch::nn::Sequential s;
    s->push_back(conv3(3, 64));
    s->push_back(TaesdBlock());
    for (int stage = 0; stage < 3; ++stage) {
        s->push_back(conv3(64, 64, 2, false));
        for (int b = 0; b < 3; ++b) s->push_back(TaesdBlock());
    }
    s->push_back(conv3(64, 4));
    return s;
}

torch::nn::Sequential load_taesd(const std::string& path, bool decoder) {
    const char* half = decoder ? "decoder" : "encoder";
    const std::string fix = std::string("; use taesd_") + half + ".pth from github.com/madebyollin/taesd.";
    io::CheckpointFile ck;
    try {
        ck = io::open_checkpoint(path);
    } catch (const Error& e) {
        throw Error(ErrorCode::kBadFile, path + ": cannot be read as a TAESD " + half + " (" + e.what() + ")" + fix);
    }
    // The first convolution's input channels tell the halves apart: 4 latent channels for the
    // decoder (its key 1), 3 image channels for the encoder (its key 0).
    const auto first = ck.tensors.find(decoder ? "1.weight" : "0.weight");
    if (first == ck.tensors.end() || first->second.shape.size() != 4 || first->second.shape[1] != (decoder ? 4 : 3)) {
        const bool other = ck.tensors.count(decoder ? "0.weight" : "1.weight") && !ck.tensors.count(decoder ? "1.weight" : "0.weight");
        throw Error(ErrorCode::kBadFile, path + ": is not a TAESD " + half + (other ? " (it looks like the other half)" : "") + fix);
    }
    auto s = decoder ? taesd_decoder() : taesd_encoder();
    const LoadReport rep = load_state(*s, ck.tensors, "", torch::kFloat);
    if (!rep.ok()) {
        std::string what = !rep.missing.empty() ? "lacks " + rep.missing.front()
                           : !rep.mismatched.empty() ? "has " + rep.mismatched.front()
                                                     : "has the unexpected tensor " + rep.unexpected.front();
        throw Error(ErrorCode::kBadFile, path + ": is not a TAESD " + half + " of SD's layout (it " + what + ")" + fix);
    }
    s->eval();
    // load_state may leave the weights as views of the mapped file: own copies outlive it.
    for (auto& p : s->parameters()) p.set_data(p.detach().clone());
    return s;
}

namespace {

torch::Device device_of(const torch::nn::Sequential& s) { return s->parameters().front().device(); }

}  // namespace

torch::Tensor taesd_decode(torch::nn::Sequential decoder, const torch::Tensor& latent) {
    torch::NoGradGuard ng;
    const auto out = decoder->forward(latent.to(device_of(decoder), torch::kFloat)).to(torch::kCPU);
    return out * 2 - 1;
}

torch::Tensor taesd_encode(torch::nn::Sequential encoder, const torch::Tensor& image01) {
    torch::NoGradGuard ng;
    return encoder->forward(image01.to(device_of(encoder), torch::kFloat)).to(torch::kCPU);
}

}  // namespace sdgimp::models
