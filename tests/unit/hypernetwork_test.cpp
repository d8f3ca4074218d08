// Hypernetwork files as A1111 1.10 lays out and runs them: the Sequential each file's settings
// imply (linear, activation, layer norm, dropout positions), its forward written out by hand, the
// chain over several networks, the attention layers' use of it, and damaged files refused.
#include <gtest/gtest.h>

#include <cstdio>
#include <unistd.h>

#include "models/hypernetwork.h"
#include "models/unet_blocks.h"
#include "status.h"
#include "support/torch_save_writer.h"

using namespace sdgimp;
using test::Py;

namespace {

struct TempDir {
    std::string path;
    std::vector<std::string> files;
    TempDir() {
        char tmpl[] = "/tmp/gd-hn-unit-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() {
        for (const auto& f : files) ::unlink(f.c_str());
        ::rmdir(path.c_str());
    }
    std::string write(const std::string& name, const std::string& bytes) {
        const std::string p = path + "/" + name;
        std::FILE* f = std::fopen(p.c_str(), "wb");
        std::fwrite(bytes.data(), 1, bytes.size(), f);
        std::fclose(f);
        files.push_back(p);
        return p;
    }
};

torch::Tensor randn(std::vector<int64_t> shape, double scale = 0.3) { return torch::randn(shape) * scale; }

// A hypernetwork file: settings, then width -> (key state dict, value state dict).
Py hypernet_file(std::vector<std::pair<Py, Py>> settings,
                 const std::vector<std::pair<int64_t, std::array<std::vector<std::pair<std::string, torch::Tensor>>, 2>>>& layers) {
    std::vector<std::pair<Py, Py>> top;
    for (const auto& [dim, sds] : layers)
        top.emplace_back(Py::integer(dim), Py::tuple({Py::state_dict(sds[0]), Py::state_dict(sds[1])}));
    top.emplace_back(Py::str("step"), Py::integer(1200));
    top.emplace_back(Py::str("name"), Py::str("test"));
    for (auto& kv : settings) top.push_back(kv);
    return Py::dict_of(top);
}

std::string load_error(const std::string& path) {
    try {
        (void)models::load_hypernetwork(path, "x");
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

// [1, 2, 1], relu, layer norm, dropout [0, 0.3, 0], output activated: A1111's Sequential is
// Linear(0) ReLU(1) LayerNorm(2) Dropout(3) Linear(4) ReLU(5) LayerNorm(6).
TEST(Hypernetwork, LayerNormAndDropoutLayoutRunsAsA1111Builds) {
    torch::manual_seed(1);
    TempDir dir;
    const int64_t d = 8;
    std::array<std::vector<std::pair<std::string, torch::Tensor>>, 2> sd;
    for (auto& s : sd)
        s = {{"linear.0.weight", randn({2 * d, d})}, {"linear.0.bias", randn({2 * d})},
             {"linear.2.weight", 1 + randn({2 * d})}, {"linear.2.bias", randn({2 * d})},
             {"linear.4.weight", randn({d, 2 * d})}, {"linear.4.bias", randn({d})},
             {"linear.6.weight", 1 + randn({d})}, {"linear.6.bias", randn({d})}};
    const Py file = hypernet_file({{Py::str("layer_structure"), Py::list({Py::integer(1), Py::number(2.0), Py::integer(1)})},
                                   {Py::str("activation_func"), Py::str("relu")},
                                   {Py::str("is_layer_norm"), Py::boolean(true)},
                                   {Py::str("use_dropout"), Py::boolean(true)},
                                   {Py::str("dropout_structure"), Py::list({Py::integer(0), Py::number(0.3), Py::integer(0)})},
                                   {Py::str("activate_output"), Py::boolean(true)},
                                   {Py::str("optional_info"), Py::none()}},
                                  {{d, sd}});
    const auto path = dir.write("ln.pt", test::torch_save_zip(file));
    const auto hn = models::load_hypernetwork(path, "ln");
    ASSERT_EQ(hn.layers.size(), 1u);
    ASSERT_EQ(hn.layers.count(d), 1u);
    const auto x = torch::randn({2, 5, d});
    for (int which = 0; which < 2; ++which) {
        const auto& p = sd[which];
        auto h = torch::relu(torch::matmul(x, p[0].second.t()) + p[1].second);
        h = torch::layer_norm(h, {2 * d}, p[2].second, p[3].second, 1e-5);
        h = torch::relu(torch::matmul(h, p[4].second.t()) + p[5].second);
        h = torch::layer_norm(h, {d}, p[6].second, p[7].second, 1e-5);
        const auto want = x + h * 0.7;
        const auto got = hn.layers.at(d)[which].forward(x, 0.7);
        EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-6)) << (got - want).abs().max().item<double>();
    }
}

// A file without settings: [1, 2, 1] without activation; the oldest files' linear1/linear2 names.
TEST(Hypernetwork, DefaultsAndTheOldestKeyNames) {
    torch::manual_seed(2);
    TempDir dir;
    const int64_t d = 6;
    std::array<std::vector<std::pair<std::string, torch::Tensor>>, 2> sd;
    for (auto& s : sd)
        s = {{"linear1.weight", randn({2 * d, d})}, {"linear1.bias", randn({2 * d})},
             {"linear2.weight", randn({d, 2 * d})}, {"linear2.bias", randn({d})}};
    const auto path = dir.write("old.pt", test::torch_save_zip(hypernet_file({}, {{d, sd}})));
    const auto hn = models::load_hypernetwork(path, "old");
    const auto x = torch::randn({1, 3, d});
    for (int which = 0; which < 2; ++which) {
        const auto& p = sd[which];
        const auto h = torch::matmul(torch::matmul(x, p[0].second.t()) + p[1].second, p[2].second.t()) + p[3].second;
        EXPECT_TRUE(torch::allclose(hn.layers.at(d)[which].forward(x, 1.0), x + h, 1e-5, 1e-6));
    }
}

// use_dropout without a stored structure: parse_dropout_structure's [0, 0.3, 0, 0] for [1, 2, 2, 1]
// (last_layer_dropout off), so Linear(0) act(1) Dropout(2) Linear(3) act(4) Linear(5) with the
// output not activated; A1111's "swish" is Hardswish, PReLU keeps its slope in the Sequential.
TEST(Hypernetwork, DerivedDropoutPositionsSwishAndPrelu) {
    torch::manual_seed(3);
    TempDir dir;
    const int64_t d = 4;
    for (const std::string act : {"swish", "prelu"}) {
        SCOPED_TRACE(act);
        const bool prelu = act == "prelu";
        std::array<std::vector<std::pair<std::string, torch::Tensor>>, 2> sd;
        for (auto& s : sd) {
            s = {{"linear.0.weight", randn({2 * d, d})}, {"linear.0.bias", randn({2 * d})},
                 {"linear.3.weight", randn({2 * d, 2 * d})}, {"linear.3.bias", randn({2 * d})},
                 {"linear.5.weight", randn({d, 2 * d})}, {"linear.5.bias", randn({d})}};
            if (prelu) {
                s.emplace_back("linear.1.weight", torch::full({1}, 0.2));
                s.emplace_back("linear.4.weight", torch::full({1}, -0.4));
            }
        }
        const std::vector<std::pair<Py, Py>> settings = {
            {Py::str("layer_structure"), Py::list({Py::integer(1), Py::integer(2), Py::integer(2), Py::integer(1)})},
            {Py::str("activation_func"), Py::str(act)},
            {Py::str("use_dropout"), Py::boolean(true)},
            {Py::str("last_layer_dropout"), Py::boolean(false)},
            {Py::str("activate_output"), Py::boolean(false)}};
        const Py file = hypernet_file(settings, {{d, sd}});
        const auto path = dir.write(act + ".pt", test::torch_save_zip(file));
        const auto hn = models::load_hypernetwork(path, act);
        const auto x = torch::randn({1, 7, d}) * 3;
        const auto& p = sd[1];
        const auto f = [&](const torch::Tensor& t, double slope) {
            return prelu ? torch::where(t >= 0, t, t * slope) : t * torch::clamp(t + 3, 0, 6) / 6;
        };
        auto h = f(torch::matmul(x, p[0].second.t()) + p[1].second, 0.2);
        h = f(torch::matmul(h, p[2].second.t()) + p[3].second, -0.4);
        h = torch::matmul(h, p[4].second.t()) + p[5].second;
        EXPECT_TRUE(torch::allclose(hn.layers.at(d)[1].forward(x, 0.5), x + h * 0.5, 1e-5, 1e-5));
        // The same weights at the positions a last-layer dropout would give are refused.
        std::array<std::vector<std::pair<std::string, torch::Tensor>>, 2> shifted = sd;
        for (auto& s : shifted)
            for (auto& kv : s)
                if (kv.first.rfind("linear.5.", 0) == 0) kv.first = "linear.6." + kv.first.substr(9);
        const auto bad = dir.write(act + "-shifted.pt", test::torch_save_zip(hypernet_file(settings, {{d, shifted}})));
        const std::string err = load_error(bad);
        EXPECT_NE(err.find("lacks 'linear.5.weight' of its 4-wide layers, which its own layer structure needs"), std::string::npos) << err;
    }
}

// The fuzzers' seed (written by a second, independent writer: Python's struct and zipfile) is a
// hypernetwork this loader reads: relu between the layers, none after the last.
TEST(Hypernetwork, TheFuzzSeedIsAHypernetwork) {
    const auto hn = models::load_hypernetwork(std::string(SDGIMP_SOURCE_DIR) + "/tests/fuzz/corpus/pickle/hypernetwork.pt", "seed");
    ASSERT_EQ(hn.layers.count(2), 1u);
    const auto& steps = hn.layers.at(2)[0].steps;
    ASSERT_EQ(steps.size(), 3u);
    EXPECT_EQ(steps[1].activation, "relu");
    const auto x = torch::tensor({1.0f, -2.0f}).view({1, 1, 2});
    // W1 = [[0, .1], [.2, .3], [.4, .5], [.6, .7]], W2 = [[0, .05, .1, .15], [.2, .25, .3, .35]], no biases.
    const auto w1 = torch::arange(8, torch::kFloat).view({4, 2}) * 0.1;
    const auto w2 = torch::arange(8, torch::kFloat).view({2, 4}) * 0.05;
    const auto want = x + torch::matmul(torch::relu(torch::matmul(x, w1.t())), w2.t());
    EXPECT_TRUE(torch::allclose(hn.layers.at(2)[1].forward(x, 1.0), want, 1e-6, 1e-6));
}

TEST(Hypernetwork, DamagedAndForeignFilesAreRefusedInOneSentence) {
    torch::manual_seed(4);
    TempDir dir;
    const int64_t d = 4;
    const std::array<std::vector<std::pair<std::string, torch::Tensor>>, 2> good = {
        std::vector<std::pair<std::string, torch::Tensor>>{{"linear.0.weight", randn({2 * d, d})}, {"linear.0.bias", randn({2 * d})},
                                                           {"linear.1.weight", randn({d, 2 * d})}, {"linear.1.bias", randn({d})}},
        std::vector<std::pair<std::string, torch::Tensor>>{{"linear.0.weight", randn({2 * d, d})}, {"linear.0.bias", randn({2 * d})},
                                                           {"linear.1.weight", randn({d, 2 * d})}, {"linear.1.bias", randn({d})}}};
    const auto ok = dir.write("ok.pt", test::torch_save_zip(hypernet_file({}, {{d, good}})));
    EXPECT_EQ(load_error(ok), "");

    const auto act = dir.write("act.pt", test::torch_save_zip(hypernet_file({{Py::str("activation_func"), Py::str("threshold")}}, {{d, good}})));
    EXPECT_NE(load_error(act).find("uses the activation \"threshold\", which this engine does not run"), std::string::npos) << load_error(act);

    auto wrong_shape = good;
    wrong_shape[1][2].second = randn({d, d});
    const auto shape = dir.write("shape.pt", test::torch_save_zip(hypernet_file({}, {{d, wrong_shape}})));
    EXPECT_NE(load_error(shape).find("has 'linear.1.weight' of the 4-wide layers in another shape"), std::string::npos) << load_error(shape);

    auto extra = good;
    extra[0].emplace_back("linear.2.weight", randn({d}));
    const auto more = dir.write("extra.pt", test::torch_save_zip(hypernet_file({}, {{d, extra}})));
    EXPECT_NE(load_error(more).find("has 'linear.2.weight' among its 4-wide layers, which its own layer structure has no place for"),
              std::string::npos) << load_error(more);

    const auto ls = dir.write("ls.pt", test::torch_save_zip(hypernet_file(
                                             {{Py::str("layer_structure"), Py::list({Py::integer(2), Py::integer(1)})}}, {{d, good}})));
    EXPECT_NE(load_error(ls).find("does not start and end with 1"), std::string::npos) << load_error(ls);

    const auto lora_like = dir.write("lora.pt", test::torch_save_zip(Py::state_dict({{"lora_unet_x.lora_up.weight", randn({4, 2})}})));
    EXPECT_NE(load_error(lora_like).find("holds no hypernetwork layers"), std::string::npos) << load_error(lora_like);

    std::string bytes = test::torch_save_zip(hypernet_file({}, {{d, good}}));
    const auto cut = dir.write("cut.pt", bytes.substr(0, bytes.size() / 2));
    EXPECT_NE(load_error(cut).find(cut), std::string::npos) << load_error(cut);
    const auto text = dir.write("text.pt", "not a hypernetwork");
    EXPECT_NE(load_error(text).find(text), std::string::npos) << load_error(text);
}

// A1111's apply_hypernetworks: each network in turn, chosen by the key context's width; the
// attention layer projects the rewritten contexts (self-attention its own input).
TEST(Hypernetwork, ChainedNetworksRewriteTheAttentionContexts) {
    torch::NoGradGuard ng;
    torch::manual_seed(5);
    const int64_t q_dim = 8, ctx_dim = 12, heads = 2, head_dim = 4;
    const auto mlp = [](int64_t d) {
        models::HypernetworkMlp m;
        m.steps.push_back({models::HypernetworkMlp::Step::Op::kLinear, randn({2 * d, d}), randn({2 * d}), ""});
        m.steps.push_back({models::HypernetworkMlp::Step::Op::kActivation, {}, {}, "tanh"});
        m.steps.push_back({models::HypernetworkMlp::Step::Op::kLinear, randn({d, 2 * d}), randn({d}), ""});
        return m;
    };
    auto a = std::make_shared<models::Hypernetwork>();
    a->layers[ctx_dim] = {mlp(ctx_dim), mlp(ctx_dim)};
    a->layers[q_dim] = {mlp(q_dim), mlp(q_dim)};
    auto b = std::make_shared<models::Hypernetwork>();
    b->layers[ctx_dim] = {mlp(ctx_dim), mlp(ctx_dim)};  // no q_dim entry: self-attention passes through it
    auto set = std::make_shared<models::HypernetworkSet>();
    set->nets = {{a, 0.6}, {b, 1.5}};

    const auto ctx = torch::randn({1, 5, ctx_dim});
    auto [k, v] = set->apply(ctx);
    const auto k_want = b->layers[ctx_dim][0].forward(a->layers[ctx_dim][0].forward(ctx, 0.6), 1.5);
    const auto v_want = b->layers[ctx_dim][1].forward(a->layers[ctx_dim][1].forward(ctx, 0.6), 1.5);
    EXPECT_TRUE(torch::allclose(k, k_want));
    EXPECT_TRUE(torch::allclose(v, v_want));

    models::BasicTransformerBlock blk(q_dim, heads, head_dim, ctx_dim, false);
    for (auto& p : blk->parameters()) p.normal_(0, 0.3);  // the layers are made to be loaded into
    const auto x = torch::randn({1, 6, q_dim});
    const auto manual = [&](models::CrossAttentionImpl& at, const torch::Tensor& in, const torch::Tensor& kc, const torch::Tensor& vc) {
        auto q = at.to_q->forward(in).view({1, -1, heads, head_dim}).transpose(1, 2);
        auto kk = at.to_k->forward(kc).view({1, -1, heads, head_dim}).transpose(1, 2);
        auto vv = at.to_v->forward(vc).view({1, -1, heads, head_dim}).transpose(1, 2);
        auto w = torch::softmax(torch::matmul(q, kk.transpose(-1, -2)) / std::sqrt(static_cast<double>(head_dim)), -1);
        return at.out_proj->forward(torch::matmul(w, vv).transpose(1, 2).reshape({1, -1, heads * head_dim}));
    };
    models::set_hypernetworks(*blk, set);
    // Cross-attention: both networks; self-attention: only `a`, which has the query width.
    const auto cross = blk->attn2->forward(x, ctx);
    EXPECT_TRUE(torch::allclose(cross, manual(*blk->attn2, x, k_want, v_want), 1e-5, 1e-6));
    const auto self = blk->attn1->forward(x, {});
    EXPECT_TRUE(torch::allclose(self, manual(*blk->attn1, x, a->layers[q_dim][0].forward(x, 0.6), a->layers[q_dim][1].forward(x, 0.6)),
                                1e-5, 1e-6));
    models::set_hypernetworks(*blk, nullptr);
    EXPECT_TRUE(torch::allclose(blk->attn2->forward(x, ctx), manual(*blk->attn2, x, ctx, ctx), 1e-5, 1e-6));
    EXPECT_FALSE(torch::allclose(cross, blk->attn2->forward(x, ctx), 1e-4, 1e-4));
}
