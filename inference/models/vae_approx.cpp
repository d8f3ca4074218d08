#include "vae_approx.h"

#include "../io/checkpoint_file.h"
#include "../status.h"
#include "state_loader.h"

namespace sdgimp::models {

VaeApproxImpl::VaeApproxImpl() {
    // (in, out, kernel) of conv1..conv8: the kernels take back the 11 pixels of padding on each side.
    const int64_t shapes[8][3] = {{4, 8, 7}, {8, 16, 5}, {16, 32, 3}, {32, 64, 3}, {64, 32, 3}, {32, 16, 3}, {16, 8, 3}, {8, 3, 3}};
    Conv2d* slots[8] = {&conv1, &conv2, &conv3, &conv4, &conv5, &conv6, &conv7, &conv8};
    for (int i = 0; i < 8; ++i)
        *slots[i] = register_module("conv" + std::to_string(i + 1), Conv2d(shapes[i][0], shapes[i][1], shapes[i][2], 1, 0));
}

torch::Tensor VaeApproxImpl::forward(const torch::Tensor& latent) {
    namespace F = torch::nn::functional;
    auto x = F::interpolate(latent, F::InterpolateFuncOptions()
                                        .size(std::vector<int64_t>{latent.size(2) * 2, latent.size(3) * 2})
                                        .mode(torch::kNearest));
    x = F::pad(x, F::PadFuncOptions({11, 11, 11, 11}));
    for (Conv2d* c : {&conv1, &conv2, &conv3, &conv4, &conv5, &conv6, &conv7, &conv8})
        x = F::leaky_relu((*c)->forward(x), F::LeakyReLUFuncOptions().negative_slope(0.1));
    return x;
}

VaeApprox load_vae_approx(const std::string& path) {
    const std::string fix = "; use models/VAE-approx/model.pt from AUTOMATIC1111's stable-diffusion-webui.";
    io::CheckpointFile ck;
    try {
        ck = io::open_checkpoint(path);
    } catch (const Error& e) {
        throw Error(ErrorCode::kBadFile, path + ": cannot be read as a VAE-approx model (" + e.what() + ")" + fix);
    }
    const auto first = ck.tensors.find("conv1.weight");
    if (first == ck.tensors.end() || first->second.shape.size() != 4 || first->second.shape[1] != 4)
        throw Error(ErrorCode::kBadFile, path + ": is not a VAE-approx model for 4-channel latents" + fix);
    VaeApprox net;
    const LoadReport rep = load_state(*net, ck.tensors, "", torch::kFloat);
    if (!rep.ok()) {
        const std::string what = !rep.missing.empty() ? "lacks " + rep.missing.front()
                                 : !rep.mismatched.empty() ? "has " + rep.mismatched.front()
                                                           : "has the unexpected tensor " + rep.unexpected.front();
        throw Error(ErrorCode::kBadFile, path + ": is not a VAE-approx model of A1111's layout (it " + what + ")" + fix);
    }
    net->eval();
    // load_state may leave the weights as views of the mapped file: own copies outlive it.
    for (auto& p : net->parameters()) p.set_data(p.detach().clone());
    return net;
}

torch::Tensor vae_approx_preview(VaeApprox net, const torch::Tensor& latent) {
    torch::NoGradGuard ng;
    const auto device = net->conv1->weight.device();
    const auto out = net->forward(latent.unsqueeze(0).to(device, torch::kFloat))[0].to(torch::kCPU);
    return (out * 0.5 + 0.5).clamp(0, 1);
}

}  // namespace sdgimp::models
