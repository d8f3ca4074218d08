// A checkpoint of the same family with other weights, for tests of features that run a second
// checkpoint (Hires checkpoint, Refiner).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <unistd.h>
#include <vector>

#include "io/safetensors_writer.h"
#include "pipeline/sd_model.h"
#include "support/oracle.h"

namespace sdgimp::test {

// The oracle model's parameters and buffers, each through `change(key, tensor)`, written as
// <dir>/<name>.safetensors (float32) with the model's sidecar configs linked beside it.
inline std::string write_changed(const OracleModel& mdl, const std::string& dir, const std::string& name,
                                 const std::function<torch::Tensor(const std::string&, const torch::Tensor&)>& change) {
    const auto m = pipeline::load_sd_model(mdl.checkpoints.front());
    std::vector<io::FloatTensor> ts;
    auto add = [&](const std::string& key, const torch::Tensor& t) {
        const auto v = change(key, t.detach().to(torch::kFloat)).to(torch::kFloat).contiguous();
        ts.push_back({key, v.sizes().vec(), std::vector<float>(v.data_ptr<float>(), v.data_ptr<float>() + v.numel())});
    };
    for (const auto& p : m->net->named_parameters()) add(p.key(), p.value());
    for (const auto& b : m->net->named_buffers()) add(b.key(), b.value());
    const std::string path = dir + "/" + name + ".safetensors";
    io::write_safetensors(path, ts);
    for (const char* ext : {".yaml", ".json"}) {
        const std::string side = mdl.dir + "/" + mdl.name + ext;
        if (::access(side.c_str(), R_OK) == 0) {
            EXPECT_EQ(::symlink(side.c_str(), (dir + "/" + name + ext).c_str()), 0);
        }
    }
    return path;
}

// The same with the UNet's tensors scaled by `unet_scale`.
inline std::string write_variant(const OracleModel& mdl, const std::string& dir, const std::string& name, float unet_scale) {
    return write_changed(mdl, dir, name, [unet_scale](const std::string& key, const torch::Tensor& t) {
        return key.rfind("model.diffusion_model.", 0) == 0 ? t * unet_scale : t;
    });
}

}  // namespace sdgimp::test
