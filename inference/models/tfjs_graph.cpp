#include "tfjs_graph.h"

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../status.h"
#include "module_slots.h"

namespace sdgimp::models {
namespace {

std::string read_file(const std::string& path, size_t limit) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error(ErrorCode::kModelNotFound, "Cannot open " + path + "; install the upscaler models (install/setup.sh).");
    std::ostringstream ss;
    ss << f.rdbuf();
    std::string s = ss.str();
    if (s.size() > limit) throw_bad_file(path, "is larger than any upscaler model");
    return s;
}

std::string dir_of(const std::string& p) {
    const size_t slash = p.find_last_of('/');
    return slash == std::string::npos ? "." : p.substr(0, slash);
}

}  // namespace

TfjsGraph TfjsGraph::load(const std::string& path) {
    const auto j = nlohmann::json::parse(read_file(path, 64u << 20), nullptr, false);
    if (!j.is_object() || !j.contains("modelTopology") || !j.contains("weightsManifest"))
        throw_bad_file(path, "is not a TensorFlow.js layers-model (model.json with modelTopology and weightsManifest)");
    TfjsGraph g;
    try {
        // Weights: the shards concatenated in the order of `paths`, tensors in manifest order.
        std::map<std::string, torch::Tensor> weights;
        const std::string dir = dir_of(path);
        for (const auto& group : j.at("weightsManifest")) {
            std::string blob;
            for (const auto& p : group.at("paths")) {
                const std::string name = p.get<std::string>();
                if (name.find('/') != std::string::npos || name.find("..") != std::string::npos)
                    throw_bad_file(path, "names a weight file outside its folder: " + name);
                blob += read_file(dir + "/" + name, 1u << 30);
            }
            size_t off = 0;
            for (const auto& w : group.at("weights")) {
                if (w.value("dtype", "float32") != "float32" || w.contains("quantization"))
                    throw_bad_file(path, "holds a non-float32 or quantized tensor, which this engine does not read");
                std::vector<int64_t> shape = w.at("shape").get<std::vector<int64_t>>();
                int64_t n = 1;
                for (int64_t d : shape) {
                    if (d < 0 || d > (1 << 24)) throw_bad_file(path, "has an impossible tensor shape");
                    n *= d;
                }
                const size_t bytes = static_cast<size_t>(n) * 4;
                if (off + bytes > blob.size()) throw_bad_file(path, "has weight shards shorter than its manifest");
                weights[w.at("name").get<std::string>()] =
                    torch::from_blob(blob.data() + off, shape, torch::kFloat).clone();
                off += bytes;
            }
            if (off != blob.size()) throw_bad_file(path, "has weight shards longer than its manifest");
        }

        const auto& cfg = j.at("modelTopology").at("model_config").at("config");
        std::map<std::string, int> index;
        for (const auto& l : cfg.at("layers")) {
            Node n;
            n.kind = l.at("class_name").get<std::string>();
            n.name = l.at("name").get<std::string>();
            const auto& c = l.at("config");
            if (!l.at("inbound_nodes").empty())
                for (const auto& in : l.at("inbound_nodes").at(0)) {
                    auto it = index.find(in.at(0).get<std::string>());
                    if (it == index.end()) throw_bad_file(path, "uses layer " + in.at(0).get<std::string>() + " before defining it");
                    n.inputs.push_back(it->second);
                }
            if (n.kind == "Conv2D") {
                const auto k = weights.find(n.name + "/kernel"), b = weights.find(n.name + "/bias");
                if (k == weights.end() || b == weights.end()) throw_bad_file(path, "lacks the weights of layer " + n.name);
                n.weight = k->second.permute({3, 2, 0, 1}).contiguous(torch::MemoryFormat::ChannelsLast);  // HWIO -> OIHW, laid out for oneDNN
                n.bias = b->second;
                const auto ks = c.at("kernel_size").get<std::vector<int>>();
                if (c.value("strides", std::vector<int>{1, 1}) != std::vector<int>{1, 1} || ks.size() != 2 || ks[0] != ks[1] ||
                    ks[0] % 2 == 0 || c.value("activation", "linear") != "linear")
                    throw_bad_file(path, "has a convolution this engine does not run (" + n.name + ")");
                n.pad = c.value("padding", "valid") == "same" ? ks[0] / 2 : 0;
            } else if (n.kind == "Activation") {
                if (c.value("activation", "") != "relu" && c.value("activation", "") != "linear")
                    throw_bad_file(path, "uses activation " + c.value("activation", std::string("?")));
            } else if (n.kind == "MultiplyBeta") {
                n.beta = c.value("beta", 0.2);
                g.unit_range_ = true;
            } else if (n.kind.rfind("PixelShuffle", 0) == 0) {
                n.factor = c.value("scale", 0);
                if (n.factor < 2 || n.factor > 8) throw_bad_file(path, "has a pixel shuffle without a valid scale");
                n.kind = "PixelShuffle";
                g.unit_range_ = true;  // the RRDN (esrgan-thick) graphs: input and output in 0..1
                g.scale_ *= n.factor;
            } else if (n.kind == "UpSampling2D") {
                const auto size = c.at("size").get<std::vector<int>>();
                if (size.size() != 2 || size[0] != size[1] || size[0] < 2 || size[0] > 8 || c.value("interpolation", "nearest") != "nearest")
                    throw_bad_file(path, "has an up-sampling layer this engine does not run");
                n.factor = size[0];
                g.scale_ *= n.factor;
            } else if (n.kind != "InputLayer" && n.kind != "Concatenate" && n.kind != "Add") {
                throw_bad_file(path, "uses layer kind " + n.kind + ", which this engine does not run");
            }
            if (n.kind != "InputLayer" && n.inputs.empty()) throw_bad_file(path, "has layer " + n.name + " without inputs");
            index[n.name] = static_cast<int>(g.nodes_.size());
            g.nodes_.push_back(std::move(n));
        }
        const std::string out = cfg.at("output_layers").at(0).at(0).get<std::string>();
        if (!index.count(out)) throw_bad_file(path, "names a missing output layer");
        g.output_ = index[out];
        g.last_use_.assign(g.nodes_.size(), 0);
        for (size_t m = 0; m < g.nodes_.size(); ++m)
            for (int k : g.nodes_[m].inputs) g.last_use_[static_cast<size_t>(k)] = m;
        g.last_use_[static_cast<size_t>(g.output_)] = g.nodes_.size();
    } catch (const nlohmann::json::exception& e) {
        throw_bad_file(path, std::string("is malformed (") + e.what() + ")");
    }
    return g;
}

torch::Tensor TfjsGraph::forward(const torch::Tensor& x) const {
    torch::NoGradGuard ng;
    std::vector<torch::Tensor> v(nodes_.size());
    for (size_t i = 0; i < nodes_.size(); ++i) {
        const Node& n = nodes_[i];
        auto in = [&](size_t k) { return v[static_cast<size_t>(n.inputs[k])]; };
        if (n.kind == "InputLayer") v[i] = x;
        else if (n.kind == "Conv2D") v[i] = conv2d_forward(in(0), n.weight, n.bias, 1, n.pad);
        else if (n.kind == "Activation") v[i] = torch::relu(in(0));
        else if (n.kind == "MultiplyBeta") v[i] = in(0) * n.beta;
        else if (n.kind == "Add") {
            auto s = in(0);
            for (size_t k = 1; k < n.inputs.size(); ++k) s = s + in(k);
            v[i] = s;
        } else if (n.kind == "Concatenate") {
            std::vector<torch::Tensor> parts;
            for (size_t k = 0; k < n.inputs.size(); ++k) parts.push_back(in(k));
            v[i] = torch::cat(parts, 1);
        } else if (n.kind == "PixelShuffle") {
            // TF's depth_to_space (DCR): channel (i*s + j)*C + c -> pixel (h*s+i, w*s+j), channel c.
            const auto t = in(0);
            const int64_t s = n.factor, N = t.size(0), C = t.size(1) / (s * s), H = t.size(2), W = t.size(3);
            v[i] = t.view({N, s, s, C, H, W}).permute({0, 3, 4, 1, 5, 2}).reshape({N, C, H * s, W * s}).contiguous(torch::MemoryFormat::ChannelsLast);
        } else if (n.kind == "UpSampling2D") {
            v[i] = in(0).repeat_interleave(n.factor, 2).repeat_interleave(n.factor, 3);
        }
        // Free what no later layer reads (graphs are in topological order).
        for (int k : n.inputs)
            if (last_use_[static_cast<size_t>(k)] == i) v[static_cast<size_t>(k)] = torch::Tensor();
    }
    return v[static_cast<size_t>(output_)];
}

torch::Tensor upscalerjs_run(const TfjsGraph& g, const torch::Tensor& rgb) {
    // Channels-last all the way (the HWC input already is): oneDNN's convolutions then skip reorders.
    auto x = rgb.to(torch::kFloat).permute({2, 0, 1}).unsqueeze(0).contiguous(torch::MemoryFormat::ChannelsLast);
    if (g.unit_range()) x = x * static_cast<float>(1.0f / 255.0f);  // a float32 reciprocal, as UpscalerJS multiplies
    auto y = g.forward(x);
    y = y.clamp(0, g.unit_range() ? 1.0 : 255.0);
    if (g.unit_range()) y = y * 255;
    return y[0].permute({1, 2, 0}).contiguous();
}

}  // namespace sdgimp::models
