#include "hypernetwork.h"

#include <cctype>
#include <set>

#include "../io/torch_pickle_checkpoint.h"
#include "../status.h"
#include "state_loader.h"
#include "unet_blocks.h"

namespace sdgimp::models {
namespace {

namespace F = torch::nn::functional;

// The activations A1111's HypernetworkModule can build without arguments and that keep the width
// (its own table plus torch.nn's activation classes by lower-cased name; "swish" is Hardswish there).
const std::set<std::string>& known_activations() {
    static const std::set<std::string> s = {"relu", "leakyrelu", "elu", "swish", "tanh", "sigmoid", "hardswish",
                                            "silu", "mish", "gelu", "relu6", "hardtanh", "selu", "celu", "softplus",
                                            "softsign", "hardsigmoid", "logsigmoid", "tanhshrink", "hardshrink",
                                            "softshrink", "rrelu", "prelu"};
    return s;
}

torch::Tensor activate(const HypernetworkMlp::Step& s, const torch::Tensor& x) {
    const std::string& a = s.activation;
    if (a == "relu") return torch::relu(x);
    if (a == "leakyrelu") return F::leaky_relu(x, F::LeakyReLUFuncOptions().negative_slope(0.01));
    if (a == "elu") return torch::elu(x);
    if (a == "swish" || a == "hardswish") return torch::hardswish(x);
    if (a == "tanh") return torch::tanh(x);
    if (a == "sigmoid") return torch::sigmoid(x);
    if (a == "silu") return torch::silu(x);
    if (a == "mish") return torch::mish(x);
    if (a == "gelu") return torch::gelu(x);
    if (a == "relu6") return torch::hardtanh(x, 0.0, 6.0);
    if (a == "hardtanh") return torch::hardtanh(x, -1.0, 1.0);
    if (a == "selu") return torch::selu(x);
    if (a == "celu") return torch::celu(x, 1.0);
    if (a == "softplus") return torch::softplus(x, 1.0, 20.0);
    if (a == "softsign") return x / (x.abs() + 1);
    if (a == "hardsigmoid") return torch::hardsigmoid(x);
    if (a == "logsigmoid") return torch::log_sigmoid(x);
    if (a == "tanhshrink") return x - torch::tanh(x);
    if (a == "hardshrink") return torch::hardshrink(x, 0.5);
    if (a == "softshrink") return torch::softshrink(x, 0.5);
    // Evaluation mode: the fixed slope (lower + upper) / 2.
    if (a == "rrelu") return F::leaky_relu(x, F::LeakyReLUFuncOptions().negative_slope((1.0 / 8 + 1.0 / 3) / 2));
    if (a == "prelu") return torch::prelu(x, s.weight);
    throw std::logic_error("hypernetwork activation without an implementation: " + a);
}

bool all_digits(const std::string& s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    return true;
}

// Python truthiness of a plain value, `fallback` when absent.
bool truthy(const io::PickleTree& t, const std::string& key, bool fallback) {
    auto it = t.values.find(key);
    if (it == t.values.end()) return fallback;
    const auto& v = it->second;
    switch (v.kind) {
        case io::PlainValue::Kind::kNone: return false;
        case io::PlainValue::Kind::kBool:
        case io::PlainValue::Kind::kInt:
        case io::PlainValue::Kind::kFloat: return v.number != 0;
        case io::PlainValue::Kind::kStr: return !v.text.empty();
        case io::PlainValue::Kind::kNumbers: return !v.numbers.empty();
        default: return true;
    }
}

// A list of numbers, or nullptr when absent or None.
const std::vector<double>* numbers(const io::PickleTree& t, const std::string& key, const std::string& path) {
    auto it = t.values.find(key);
    if (it == t.values.end() || it->second.kind == io::PlainValue::Kind::kNone) return nullptr;
    if (it->second.kind != io::PlainValue::Kind::kNumbers)
        throw_bad_file(path, "has a '" + key + "' that is not a list of numbers; it is not a hypernetwork A1111 can load.");
    return &it->second.numbers;
}

struct Layout {
    std::vector<double> layer_structure;
    std::string activation;  // "" for none
    bool layer_norm = false, activate_output = true;
    std::vector<double> dropout;
};

// A1111's Hypernetwork.load: the settings and their defaults, and parse_dropout_structure.
Layout layout_of(const io::PickleTree& t, const std::string& path) {
    Layout l;
    const auto* ls = numbers(t, "layer_structure", path);
    l.layer_structure = ls ? *ls : std::vector<double>{1, 2, 1};
    if (l.layer_structure.size() < 2 || l.layer_structure.size() > 64 || l.layer_structure.front() != 1 ||
        l.layer_structure.back() != 1)
        throw_bad_file(path, "has a layer structure that does not start and end with 1; it is not a hypernetwork A1111 can load.");
    for (double m : l.layer_structure)
        if (!(m > 0 && m <= 64)) throw_bad_file(path, "has a layer structure with a size factor outside 0-64; the file is damaged.");
    if (auto it = t.values.find("activation_func"); it != t.values.end()) {
        if (it->second.kind == io::PlainValue::Kind::kStr) l.activation = it->second.text;
        else if (it->second.kind != io::PlainValue::Kind::kNone)
            throw_bad_file(path, "names its activation with something other than text; the file is damaged.");
    }
    if (l.activation == "linear") l.activation.clear();
    if (!l.activation.empty() && !known_activations().count(l.activation))
        throw Error(ErrorCode::kInvalidRequest, "The hypernetwork " + path + " uses the activation \"" + l.activation +
                                                    "\", which this engine does not run; use a hypernetwork trained with relu, swish, gelu or another common one.");
    l.layer_norm = truthy(t, "is_layer_norm", false);
    l.activate_output = truthy(t, "activate_output", true);
    const auto* ds = numbers(t, "dropout_structure", path);
    if (ds) {
        l.dropout = *ds;
    } else {
        const bool use_dropout = truthy(t, "use_dropout", false);
        const size_t n = l.layer_structure.size();
        l.dropout.assign(n, 0.0);
        if (use_dropout && n >= 2) {
            // [0, 0.3 x (n - 3), last_layer_dropout ? 0.3 : 0, 0]
            for (size_t i = 1; i + 2 < n; ++i) l.dropout[i] = 0.3;
            if (n >= 3) l.dropout[n - 2] = truthy(t, "last_layer_dropout", false) ? 0.3 : 0.0;
        }
    }
    if (l.dropout.size() < l.layer_structure.size())
        throw_bad_file(path, "has a dropout structure shorter than its layer structure; it is not a hypernetwork A1111 can load.");
    return l;
}

// The MLP for width `dim` from its state dict (keys "linear.N.weight" ...), laid out as A1111's
// Sequential: every key it expects present with its shape, and no other.
HypernetworkMlp build_mlp(int64_t dim, std::map<std::string, torch::Tensor> sd, const Layout& l, const std::string& path) {
    // Files from before the Sequential: linear1/linear2.
    for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
             {"linear1.weight", "linear.0.weight"}, {"linear1.bias", "linear.0.bias"},
             {"linear2.weight", "linear.1.weight"}, {"linear2.bias", "linear.1.bias"}}) {
        auto it = sd.find(from);
        if (it == sd.end()) continue;
        sd[to] = it->second;
        sd.erase(from);
    }
    HypernetworkMlp mlp;
    std::set<std::string> used;
    int index = 0;
    const auto take = [&](const std::string& key, std::vector<int64_t> shape) {
        const std::string k = "linear." + std::to_string(index) + "." + key;
        auto it = sd.find(k);
        if (it == sd.end())
            throw_bad_file(path, "lacks '" + k + "' of its " + std::to_string(dim) + "-wide layers, which its own layer structure needs; the file is damaged.");
        if (it->second.sizes().vec() != shape)
            throw_bad_file(path, "has '" + k + "' of the " + std::to_string(dim) + "-wide layers in another shape than its layer structure gives; the file is damaged.");
        if (!it->second.is_floating_point())
            throw_bad_file(path, "stores '" + k + "' as integers; the file is damaged.");
        used.insert(k);
        return it->second.to(torch::kFloat).contiguous();
    };
    const size_t n = l.layer_structure.size();
    for (size_t i = 0; i + 1 < n; ++i) {
        // Python's int(dim * factor).
        const auto in = static_cast<int64_t>(static_cast<double>(dim) * l.layer_structure[i]);
        const auto out = static_cast<int64_t>(static_cast<double>(dim) * l.layer_structure[i + 1]);
        HypernetworkMlp::Step lin{HypernetworkMlp::Step::Op::kLinear, take("weight", {out, in}), take("bias", {out}), ""};
        mlp.steps.push_back(lin);
        ++index;
        if (!l.activation.empty() && !(i + 2 >= n && !l.activate_output)) {
            HypernetworkMlp::Step act{HypernetworkMlp::Step::Op::kActivation, {}, {}, l.activation};
            if (l.activation == "prelu") act.weight = take("weight", {1});
            mlp.steps.push_back(act);
            ++index;
        }
        if (l.layer_norm) {
            HypernetworkMlp::Step norm{HypernetworkMlp::Step::Op::kLayerNorm, take("weight", {out}), take("bias", {out}), ""};
            mlp.steps.push_back(norm);
            ++index;
        }
        if (l.dropout[i + 1] > 0) {
            if (!(l.dropout[i + 1] < 1))
                throw_bad_file(path, "has a dropout probability of 1 or more; it is not a hypernetwork A1111 can load.");
            ++index;  // dropout: nothing at inference
        }
    }
    for (const auto& kv : sd)
        if (!used.count(kv.first))
            throw_bad_file(path, "has '" + kv.first + "' among its " + std::to_string(dim) + "-wide layers, which its own layer structure has no place for; the file is damaged.");
    return mlp;
}

}  // namespace

torch::Tensor HypernetworkMlp::forward(const torch::Tensor& x, double multiplier) const {
    torch::Tensor h = x;
    for (const auto& s : steps) {
        switch (s.op) {
            case Step::Op::kLinear: h = torch::linear(h, s.weight, s.bias); break;
            case Step::Op::kActivation: h = activate(s, h); break;
            case Step::Op::kLayerNorm:
                h = torch::layer_norm(h.to(torch::kFloat), {s.weight.size(0)}, s.weight, s.bias, 1e-5).to(x.scalar_type());
                break;
        }
    }
    return x + h * multiplier;
}

Hypernetwork Hypernetwork::to(torch::Device device, torch::ScalarType dtype) const {
    Hypernetwork out = *this;
    for (auto& [dim, pair] : out.layers)
        for (auto& mlp : pair)
            for (auto& s : mlp.steps) {
                const auto t = s.op == HypernetworkMlp::Step::Op::kLayerNorm ? torch::kFloat : dtype;
                if (s.weight.defined()) s.weight = s.weight.to(device, t);
                if (s.bias.defined()) s.bias = s.bias.to(device, t);
            }
    return out;
}

Hypernetwork load_hypernetwork(const std::string& path, const std::string& name) {
    const io::PickleTree tree = io::read_torch_tree(io::MappedFile::open(path));
    const Layout l = layout_of(tree, path);
    // Integer keys of the top dictionary: width -> (key state dict, value state dict).
    std::map<int64_t, std::array<std::map<std::string, torch::Tensor>, 2>> dicts;
    for (const auto& [key, raw] : tree.tensors) {
        const size_t a = key.find('.');
        const size_t b = a == std::string::npos ? a : key.find('.', a + 1);
        if (b == std::string::npos || !all_digits(key.substr(0, a))) continue;
        const std::string which = key.substr(a + 1, b - a - 1);
        if (a > 6) throw_bad_file(path, "has a layer width of more than six digits; the file is damaged.");
        const int64_t dim = std::stoll(key.substr(0, a));
        if (which != "0" && which != "1")
            throw_bad_file(path, "has more than a key and a value network for width " + std::to_string(dim) + "; it is not a hypernetwork A1111 can load.");
        dicts[dim][which == "1"][key.substr(b + 1)] = to_torch(raw);
    }
    if (dicts.empty())
        throw_bad_file(path, "holds no hypernetwork layers (no width -> weights entries); it is not a hypernetwork file.");
    Hypernetwork net;
    net.name = name;
    net.path = path;
    for (auto& [dim, pair] : dicts) {
        if (dim < 1 || dim > 16384) throw_bad_file(path, "has layers for a width of " + std::to_string(dim) + "; the file is damaged.");
        net.layers[dim] = {build_mlp(dim, pair[0], l, path), build_mlp(dim, pair[1], l, path)};
    }
    return net;
}

std::pair<torch::Tensor, torch::Tensor> HypernetworkSet::apply(const torch::Tensor& context) const {
    torch::Tensor k = context, v = context;
    for (const auto& [net, multiplier] : nets) {
        auto it = net->layers.find(k.size(-1));
        if (it == net->layers.end()) continue;
        k = it->second[0].forward(k, multiplier);
        v = it->second[1].forward(v, multiplier);
    }
    return {k, v};
}

void set_hypernetworks(torch::nn::Module& unet, std::shared_ptr<const HypernetworkSet> set) {
    if (set && set->nets.empty()) set = nullptr;
    for (const auto& m : unet.modules(/*include_self=*/true))
        if (auto* a = m->as<CrossAttentionImpl>()) a->hypernetworks = set;
}

}  // namespace sdgimp::models
