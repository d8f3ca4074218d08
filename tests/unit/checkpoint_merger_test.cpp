// A1111's Checkpoint Merger on small synthetic checkpoints: which keys are combined (those with
// "model" in them that both files hold, not the text encoder's position ids), the formulas in each
// dtype (float32 and float16 rounding step by step as torch does), an inpainting A's first layer
// merged on its four shared channels, the float16 option, a baked-in VAE, discarded keys, A1111's
// file names and merge recipe, and the refusals.
#include <gtest/gtest.h>

#include <c10/util/Half.h>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "engine/checkpoint_merger.h"
#include "io/checkpoint_file.h"
#include "io/mapped_file.h"
#include "io/model_hash.h"
#include "io/safetensors_writer.h"
#include "io/sha256.h"
#include "io/torch_checkpoint_writer.h"
#include "models/state_loader.h"
#include "status.h"

using namespace sdgimp;

namespace {

struct T {
    std::string name, dtype;
    std::vector<int64_t> shape;
    std::vector<float> values;
};

// Writes the tensors (F32 / F16 / I64 from the float values) as a .safetensors file.
void write(const std::string& path, const std::vector<T>& ts, const std::map<std::string, std::string>& md = {}) {
    std::vector<std::vector<uint8_t>> store;
    std::vector<io::RawBytesTensor> out;
    for (const auto& t : ts) {
        std::vector<uint8_t> b;
        for (float v : t.values) {
            if (t.dtype == "F32") {
                const auto* p = reinterpret_cast<const uint8_t*>(&v);
                b.insert(b.end(), p, p + 4);
            } else if (t.dtype == "F16") {
                const c10::Half h(v);
                const auto* p = reinterpret_cast<const uint8_t*>(&h);
                b.insert(b.end(), p, p + 2);
            } else {
                const int64_t i = static_cast<int64_t>(v);
                const auto* p = reinterpret_cast<const uint8_t*>(&i);
                b.insert(b.end(), p, p + 8);
            }
        }
        store.push_back(std::move(b));
    }
    for (size_t i = 0; i < ts.size(); ++i) out.push_back({ts[i].name, ts[i].dtype, ts[i].shape, store[i].data(), store[i].size()});
    io::write_safetensors_raw(path, out, md);
}

std::vector<float> seq(int n, float start, float step) {
    std::vector<float> v;
    for (int i = 0; i < n; ++i) v.push_back(start + step * i);
    return v;
}

const char* kConv = "model.diffusion_model.input_blocks.0.0.weight";
const char* kOut = "model.diffusion_model.out.2.bias";
const char* kVae = "first_stage_model.decoder.conv_out.bias";
const char* kPos = "cond_stage_model.transformer.text_model.embeddings.position_ids";
const char* kText = "cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc1.bias";

struct Files {
    std::string dir, a, b, c, normal, vae;
    Files() {
        char tmpl[] = "/tmp/gd-merge-XXXXXX";
        dir = mkdtemp(tmpl);
        a = dir + "/inpaint-a.safetensors";
        b = dir + "/style-b.safetensors";
        c = dir + "/base-c.safetensors";
        normal = dir + "/normal.safetensors";
        vae = dir + "/vae.safetensors";
        // A: an inpainting model whose text encoder keys are of the old SD 1.x form.
        write(a, {{kConv, "F32", {2, 9, 1, 1}, seq(18, 0.1f, 0.37f)},
                  {kOut, "F32", {3}, {1.5f, -2.25f, 0.3f}},
                  {kVae, "F16", {3}, {0.125f, 0.7f, -1.1f}},
                  {"cond_stage_model.transformer.embeddings.position_ids", "I64", {1, 4}, {0, 1, 2, 3}},
                  {"cond_stage_model.transformer.encoder.layers.0.mlp.fc1.bias", "F32", {2}, {0.9f, -0.4f}},
                  {"alphas_cumprod", "F32", {2}, {0.99f, 0.5f}},
                  {"model_ema.decay", "F32", {}, {0.9999f}},
                  {"model.only_in_a", "F32", {2}, {7.f, 8.f}}});
        // B and C: normal models (new text encoder keys), other values.
        write(b, {{kConv, "F32", {2, 4, 1, 1}, seq(8, -0.6f, 0.21f)},
                  {kOut, "F32", {3}, {0.25f, 4.f, -0.7f}},
                  {kVae, "F16", {3}, {0.5f, -0.3f, 2.2f}},
                  {kPos, "I64", {1, 4}, {3, 2, 1, 0}},
                  {kText, "F32", {2}, {0.1f, 0.2f}},
                  {"alphas_cumprod", "F32", {2}, {0.1f, 0.2f}},
                  {"model_ema.decay", "F32", {}, {0.5f}}},
              {{"sd_merge_recipe", "{\"type\": \"webui\"}"}});
        write(c, {{kConv, "F32", {2, 4, 1, 1}, seq(8, 0.3f, -0.13f)},
                  {kOut, "F32", {3}, {-1.f, 0.5f, 0.25f}},
                  {kVae, "F16", {3}, {0.25f, 0.25f, 0.25f}},
                  {kPos, "I64", {1, 4}, {0, 1, 2, 3}}});
        write(normal, {{kConv, "F32", {2, 4, 1, 1}, seq(8, 0.f, 1.f)}});
        write(vae, {{"decoder.conv_out.bias", "F32", {3}, {9.f, 8.f, 7.f}}, {"loss.logvar", "F32", {}, {1.f}}});
    }
    ~Files() {
        if (dir.size() > 5 && dir.rfind("/tmp/gd-merge-", 0) == 0) std::system(("rm -rf '" + dir + "'").c_str());
    }
};

std::map<std::string, torch::Tensor> read(const std::string& path, std::map<std::string, std::string>* md = nullptr) {
    const io::CheckpointFile f = io::open_checkpoint(path);
    std::map<std::string, torch::Tensor> out;
    for (const auto& [k, raw] : f.tensors) out[k] = models::to_torch(raw);
    if (md) *md = f.metadata;
    return out;
}

float f32(float v) { return v; }
float f16(float v) { return static_cast<float>(c10::Half(v)); }

std::vector<float> values(const torch::Tensor& t) {
    const auto f = t.to(torch::kFloat).contiguous();
    return std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
}

// The archive as CPython's zipfile and pickle read it (tests/tools/read_torch_zip.py): an
// independent reader, with torch's rebuild functions stood in.
nlohmann::json python_reading(const std::string& path) {
    const std::string cmd = "python3 '" SDGIMP_SOURCE_DIR "/tests/tools/read_torch_zip.py' '" + path + "' 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return nullptr;
    std::string text;
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof buf, p)) text.append(buf, n);
    const int rc = pclose(p);
    if (rc != 0) {
        ADD_FAILURE() << "python3 could not read " << path << ": " << text;
        return nullptr;
    }
    return nlohmann::json::parse(text);
}

std::string bytes_sha(const torch::Tensor& t) {
    const auto c = t.contiguous();
    return io::sha256_hex(static_cast<const uint8_t*>(c.data_ptr()), static_cast<size_t>(c.numel()) * c.element_size());
}

const char* storage_of(torch::ScalarType t) {
    switch (t) {
        case torch::kFloat: return "FloatStorage";
        case torch::kHalf: return "HalfStorage";
        case torch::kBFloat16: return "BFloat16Storage";
        case torch::kDouble: return "DoubleStorage";
        case torch::kLong: return "LongStorage";
        case torch::kInt: return "IntStorage";
        case torch::kShort: return "ShortStorage";
        case torch::kChar: return "CharStorage";
        case torch::kByte: return "ByteStorage";
        case torch::kBool: return "BoolStorage";
        default: return "?";
    }
}

// Every tensor of `expected` in CPython's reading of the archive: storage class, contiguous size
// and stride, offset 0, its bytes; the records 64-byte aligned as torch writes them.
void expect_python_reads(const std::string& path, const std::map<std::string, torch::Tensor>& expected) {
    const nlohmann::json j = python_reading(path);
    ASSERT_TRUE(j.is_object());
    EXPECT_EQ(j["version"], "3\n");
    EXPECT_EQ(j["byteorder"], "little");
    EXPECT_EQ(j["type"], "dict");
    EXPECT_EQ(j["names"][0], "archive/data.pkl");
    ASSERT_EQ(j["tensors"].size(), expected.size());
    for (const auto& [key, t] : expected) {
        SCOPED_TRACE(key);
        ASSERT_TRUE(j["tensors"].contains(key));
        const auto& e = j["tensors"][key];
        EXPECT_EQ(e["storage"], storage_of(t.scalar_type()));
        EXPECT_EQ(e["numel"].get<int64_t>(), t.numel());
        EXPECT_EQ(e["offset"], 0);
        EXPECT_EQ(e["size"].get<std::vector<int64_t>>(), t.sizes().vec());
        EXPECT_EQ(e["stride"].get<std::vector<int64_t>>(), t.contiguous().strides().vec());
        EXPECT_EQ(e["requires_grad"], false);
        EXPECT_EQ(e["hooks"], 0);
        EXPECT_EQ(e["sha256"], bytes_sha(t));
    }
    for (const auto& [name, offset] : j["data_offsets"].items())
        if (name.rfind("archive/data/", 0) == 0) EXPECT_EQ(offset.get<int64_t>() % 64, 0) << name;
}

}  // namespace

TEST(CheckpointMerger, WeightedSumFollowsA1111) {
    Files fx;
    MergeSettings s;
    s.primary = fx.a;
    s.secondary = fx.b;
    s.multiplier = 0.3;
    const MergeResult r = merge_checkpoints(s);
    EXPECT_TRUE(r.inpainting);
    EXPECT_EQ(r.path, fx.dir + "/0.7(inpaint-a) + 0.3(style-b).inpainting.safetensors");
    std::map<std::string, std::string> md;
    auto t = read(r.path, &md);
    const auto A = read(fx.a), B = read(fx.b);
    const float wa = static_cast<float>(1 - 0.3), wb = static_cast<float>(0.3);
    // float32: each product rounded, then the sum (torch's order: (1 - M) A, M B, then +).
    auto out = values(t.at(kOut));
    const auto av = values(A.at(kOut)), bv = values(B.at(kOut));
    for (int i = 0; i < 3; ++i) EXPECT_EQ(out[i], f32(f32(av[i] * wa) + f32(bv[i] * wb))) << i;
    // float16 stays float16, rounded after each operation.
    EXPECT_EQ(t.at(kVae).scalar_type(), torch::kHalf);
    out = values(t.at(kVae));
    const auto ah = values(A.at(kVae)), bh = values(B.at(kVae));
    for (int i = 0; i < 3; ++i) EXPECT_EQ(out[i], f16(f16(ah[i] * wa) + f16(bh[i] * wb))) << i;
    // The inpainting conv: the four latent channels merged with B's, the other five kept.
    const auto conv = t.at(kConv), aconv = A.at(kConv), bconv = B.at(kConv);
    ASSERT_EQ(conv.sizes(), aconv.sizes());
    for (int o = 0; o < 2; ++o)
        for (int ch = 0; ch < 9; ++ch) {
            const float av1 = aconv[o][ch][0][0].item<float>();
            const float want = ch < 4 ? f32(f32(av1 * wa) + f32(bconv[o][ch][0][0].item<float>() * wb)) : av1;
            EXPECT_EQ(conv[o][ch][0][0].item<float>(), want) << o << "," << ch;
        }
    // Old text-encoder keys take A1111's new names and merge with B's; position ids stay A's.
    EXPECT_EQ(t.count("cond_stage_model.transformer.encoder.layers.0.mlp.fc1.bias"), 0u);
    EXPECT_EQ(values(t.at(kText))[0], f32(f32(0.9f * wa) + f32(0.1f * wb)));
    EXPECT_TRUE(torch::equal(t.at(kPos), torch::tensor({0, 1, 2, 3}, torch::kLong).view({1, 4})));
    // Keys without "model" keep A's values; keys only A has keep them too; model_ema.* merges.
    EXPECT_EQ(values(t.at("alphas_cumprod")), (std::vector<float>{0.99f, 0.5f}));
    EXPECT_EQ(values(t.at("model.only_in_a")), (std::vector<float>{7.f, 8.f}));
    EXPECT_EQ(values(t.at("model_ema.decay"))[0], f32(f32(0.9999f * wa) + f32(0.5f * wb)));
    EXPECT_EQ(r.written, 8);
    // A1111's metadata: its recipe as json.dumps writes it, each model by its sha256.
    const auto sha = [](const std::string& p) {
        const auto f = io::MappedFile::open(p);
        return io::sha256_hex(f->data(), f->size());
    };
    EXPECT_EQ(md.at("format"), "pt");
    EXPECT_EQ(md.at("sd_merge_recipe"),
              "{\"type\": \"webui\", \"primary_model_hash\": \"" + sha(fx.a) + "\", \"secondary_model_hash\": \"" + sha(fx.b) +
                  "\", \"tertiary_model_hash\": null, \"interp_method\": \"Weighted sum\", \"multiplier\": 0.3, \"save_as_half\": false, "
                  "\"custom_name\": \"\", \"config_source\": 0, \"bake_in_vae\": \"None\", \"discard_weights\": \"\", \"is_inpainting\": true, "
                  "\"is_instruct_pix2pix\": false}");
    const auto models = nlohmann::json::parse(md.at("sd_merge_models"));
    EXPECT_EQ(models.at(sha(fx.a)).at("name"), "inpaint-a.safetensors");
    EXPECT_EQ(models.at(sha(fx.a)).at("legacy_hash"), io::old_model_hash(*io::MappedFile::open(fx.a)));
    EXPECT_TRUE(models.at(sha(fx.a)).at("sd_merge_recipe").is_null());
    EXPECT_EQ(models.at(sha(fx.b)).at("sd_merge_recipe").at("type"), "webui");  // B's own recipe, read as an object
    // The same merge again would overwrite its own result: refused.
    try {
        merge_checkpoints(s);
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("exists already"), std::string::npos) << e.what();
    }
}

TEST(CheckpointMerger, AddDifferenceHalfVaeAndDiscard) {
    Files fx;
    MergeSettings s;
    s.primary = fx.a;
    s.secondary = fx.b;
    s.tertiary = fx.c;
    s.method = "Add difference";
    s.multiplier = 0.75;
    s.save_as_half = true;
    s.bake_in_vae = fx.vae;
    s.discard_weights = "^model_ema\\.";
    s.save_metadata = false;
    const MergeResult r = merge_checkpoints(s);
    EXPECT_EQ(r.path, fx.dir + "/inpaint-a + 0.75(style-b - base-c).inpainting.safetensors");
    std::map<std::string, std::string> md;
    auto t = read(r.path, &md);
    EXPECT_TRUE(md.empty());
    const auto A = read(fx.a), B = read(fx.b), C = read(fx.c);
    const float m = 0.75f;
    // float32 keys: A + M (B - C), then float16.
    const auto out = values(t.at(kOut)), av = values(A.at(kOut)), bv = values(B.at(kOut)), cv = values(C.at(kOut));
    EXPECT_EQ(t.at(kOut).scalar_type(), torch::kHalf);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(out[i], f16(f32(av[i] + f32(f32(bv[i] - cv[i]) * m)))) << i;
    // A key C lacks: B's difference is zero, A's value (halved) stays.
    EXPECT_EQ(values(t.at(kText))[0], f16(0.9f));
    // Keys outside the merge keep their float32 in the interpolating methods (A1111 halves only what it merged).
    EXPECT_EQ(t.at("alphas_cumprod").scalar_type(), torch::kFloat);
    // The baked-in VAE replaces the first stage (halved), its loss keys ignored; model_ema.* discarded.
    EXPECT_EQ(values(t.at(kVae)), (std::vector<float>{9.f, 8.f, 7.f}));
    EXPECT_EQ(t.at(kVae).scalar_type(), torch::kHalf);
    EXPECT_EQ(t.count("model_ema.decay"), 0u);
    EXPECT_EQ(t.count("first_stage_model.loss.logvar"), 0u);

    // No interpolation: A alone (every float32 tensor halved), under a custom name.
    MergeSettings n;
    n.primary = fx.a;
    n.method = "No interpolation";
    n.save_as_half = true;
    n.custom_name = "a-half";
    n.save_metadata = false;
    const MergeResult rn = merge_checkpoints(n);
    EXPECT_EQ(rn.path, fx.dir + "/a-half.safetensors");
    t = read(rn.path);
    EXPECT_EQ(t.at("alphas_cumprod").scalar_type(), torch::kHalf);
    EXPECT_EQ(t.at(kPos).scalar_type(), torch::kLong);
    EXPECT_EQ(rn.merged, 0);
}

TEST(CheckpointMerger, CopiesTheConfigAsA1111) {
    // "A, B or C": the first used model with a .yaml beside it (here B's); "B" likewise; "C" has
    // none; "Don't" copies nothing; the name follows the result's.
    Files fx;
    const std::string yaml = "model:\n  params:\n    parameterization: \"v\"\n";
    {
        std::ofstream(fx.dir + "/style-b.yaml") << yaml;
    }
    auto run = [&](int source, const std::string& name) {
        MergeSettings s;
        s.primary = fx.a;
        s.secondary = fx.b;
        s.custom_name = name;
        s.config_source = source;
        s.save_metadata = false;
        return merge_checkpoints(s);
    };
    MergeResult r = run(0, "any");
    EXPECT_EQ(r.config, fx.dir + "/any.inpainting.yaml");
    std::ifstream in(r.config);
    const std::string copied((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(copied, yaml);
    EXPECT_EQ(run(1, "from-b").config, fx.dir + "/from-b.inpainting.yaml");
    EXPECT_EQ(run(2, "from-c").config, "");
    EXPECT_EQ(run(3, "none").config, "");
    EXPECT_EQ(access((fx.dir + "/none.inpainting.yaml").c_str(), F_OK), -1);
    EXPECT_EQ(parse_config_source("Don't"), 3);
    EXPECT_THROW(parse_config_source("D"), Error);
}

TEST(CheckpointMerger, RefusesWithOneSentence) {
    Files fx;
    auto refused = [](MergeSettings s, const std::string& words) {
        try {
            merge_checkpoints(s);
            ADD_FAILURE() << "no error for " << words;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
        }
    };
    MergeSettings s;
    s.primary = fx.normal;
    s.secondary = fx.a;
    refused(s, "A must be the inpainting model");
    s.secondary = "";
    refused(s, "needs a secondary model (B)");
    s.secondary = fx.b;
    s.method = "Add difference";
    refused(s, "needs a tertiary model (C)");
    s.method = "Average";
    refused(s, "not \"Average\"");
    s.method = "Weighted sum";
    s.discard_weights = "([";
    refused(s, "is not a regular expression");
    s.discard_weights = "";
    s.secondary = fx.dir + "/missing.ckpt";
    refused(s, "cannot be read");
    EXPECT_EQ(merged_file_name(s, false, true), "0.7(normal) + 0.3(missing).instruct-pix2pix.safetensors");
}

TEST(CheckpointMerger, SavesACkptAsTorchSaveDoes) {
    // A1111's Checkpoint format "ckpt": torch.save's zip archive of the same tensors the
    // .safetensors holds (no metadata: torch.save has none), read back by our loader and by CPython.
    Files fx;
    {
        std::ofstream(fx.dir + "/style-b.yaml") << "model: {}\n";
    }
    MergeSettings s;
    s.primary = fx.a;
    s.secondary = fx.b;
    s.multiplier = 0.3;
    s.custom_name = "as-safetensors";
    const MergeResult st = merge_checkpoints(s);
    s.custom_name = "";
    s.checkpoint_format = "ckpt";
    const MergeResult ck = merge_checkpoints(s);
    EXPECT_EQ(ck.path, fx.dir + "/0.7(inpaint-a) + 0.3(style-b).inpainting.ckpt");
    EXPECT_EQ(ck.config, fx.dir + "/0.7(inpaint-a) + 0.3(style-b).inpainting.yaml");
    EXPECT_EQ(ck.written, st.written);
    std::map<std::string, std::string> md;
    const auto a = read(st.path), b = read(ck.path, &md);
    EXPECT_TRUE(md.empty());
    ASSERT_EQ(a.size(), b.size());
    for (const auto& [key, t] : a) {
        SCOPED_TRACE(key);
        ASSERT_TRUE(b.count(key));
        EXPECT_EQ(b.at(key).scalar_type(), t.scalar_type());
        EXPECT_TRUE(torch::equal(b.at(key), t));
    }
    expect_python_reads(ck.path, a);
    s.checkpoint_format = "pt";
    try {
        merge_checkpoints(s);
        ADD_FAILURE() << "a third format was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("\"safetensors\" or \"ckpt\""), std::string::npos) << e.what();
    }
}

TEST(TorchCheckpointWriter, EveryDtypeAndZip64) {
    // Every storage torch.load maps, a scalar, an empty tensor and a large shape, in the plain and
    // the ZIP64 layout (which files past 4 GiB need; forced here on a small one).
    Files fx;
    torch::manual_seed(5);
    std::map<std::string, torch::Tensor> ts = {
        {"f32", torch::randn({3, 5})},
        {"f16", torch::randn({7}).to(torch::kHalf)},
        {"bf16", torch::randn({2, 2, 3}).to(torch::kBFloat16)},
        {"f64", torch::randn({4}, torch::kDouble)},
        {"i64", torch::arange(-3, 9, torch::kLong).reshape({3, 4})},
        {"i32", torch::arange(0, 6, torch::kInt)},
        {"i16", torch::arange(-2, 2, torch::kShort)},
        {"i8", torch::arange(-5, 5, torch::kChar)},
        {"u8", torch::arange(250, 256, torch::kInt).to(torch::kByte)},
        {"bool", torch::tensor({true, false, true})},
        {"scalar", torch::tensor(0.9999f)},
        {"empty", torch::zeros({0, 4})},
        {"model.diffusion_model.wide", torch::randn({1, 3000})}};
    for (const bool zip64 : {false, true}) {
        SCOPED_TRACE(zip64 ? "ZIP64" : "plain");
        std::vector<io::RawBytesTensor> out;
        static const std::map<torch::ScalarType, std::string> names = {
            {torch::kFloat, "F32"}, {torch::kHalf, "F16"}, {torch::kBFloat16, "BF16"}, {torch::kDouble, "F64"},
            {torch::kLong, "I64"}, {torch::kInt, "I32"}, {torch::kShort, "I16"}, {torch::kChar, "I8"},
            {torch::kByte, "U8"}, {torch::kBool, "BOOL"}};
        for (const auto& [k, t] : ts)
            out.push_back({k, names.at(t.scalar_type()), t.sizes().vec(), static_cast<const uint8_t*>(t.data_ptr()),
                           static_cast<size_t>(t.numel()) * t.element_size()});
        const std::string path = fx.dir + (zip64 ? "/zip64.ckpt" : "/plain.ckpt");
        io::write_torch_checkpoint(path, out, zip64);
        const auto back = read(path);
        ASSERT_EQ(back.size(), ts.size());
        for (const auto& [k, t] : ts) {
            SCOPED_TRACE(k);
            EXPECT_EQ(back.at(k).scalar_type(), t.scalar_type());
            EXPECT_EQ(back.at(k).sizes(), t.sizes());
            EXPECT_TRUE(torch::equal(back.at(k), t));
        }
        expect_python_reads(path, ts);
        EXPECT_EQ(access((path + ".partial").c_str(), F_OK), -1);
    }
    // A size that disagrees with the shape, or a dtype torch has no storage for: one sentence,
    // nothing written.
    const float v[2] = {1, 2};
    const std::string bad = fx.dir + "/bad.ckpt";
    EXPECT_THROW(io::write_torch_checkpoint(bad, {{"x", "F32", {3}, reinterpret_cast<const uint8_t*>(v), 8}}), Error);
    EXPECT_THROW(io::write_torch_checkpoint(bad, {{"x", "F8", {2}, reinterpret_cast<const uint8_t*>(v), 2}}), Error);
    EXPECT_THROW(io::write_torch_checkpoint(fx.dir + "/no-such-folder/x.ckpt", {}), Error);
    EXPECT_EQ(access(bad.c_str(), F_OK), -1);
}
