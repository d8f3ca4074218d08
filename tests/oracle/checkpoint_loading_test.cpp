// Every checkpoint in the oracle's nets/ folder loads with exactly the keys and shapes its
// keys.tsv lists, and files of the same model hold the same values.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "io/checkpoint_file.h"
#include "io/tensor_values.h"
#include "model_config.h"
#include "support/oracle.h"

using namespace sdgimp;

namespace {

struct KeyRow {
    std::string dtype;
    std::vector<int64_t> shape;
};

std::map<std::string, KeyRow> read_keys_tsv(const std::string& path) {
    std::map<std::string, KeyRow> out;
    std::istringstream in(test::read_text(path));
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        std::istringstream ls(line);
        std::string key, dtype, shape;
        std::getline(ls, key, '\t');
        std::getline(ls, dtype, '\t');
        std::getline(ls, shape);
        KeyRow r;
        r.dtype = dtype;
        for (const auto& v : nlohmann::json::parse(shape)) r.shape.push_back(v.get<int64_t>());
        out[key] = r;
    }
    return out;
}

bool is_schedule_buffer(const std::string& key) { return key.find('.') == std::string::npos; }

}  // namespace

TEST(OracleNets, ModelsAreDiscovered) {
    auto models = test::oracle_models();
    ASSERT_FALSE(models.empty()) << "no model folders under " << test::oracle_dir() << "/nets";
    for (const auto& m : models) EXPECT_FALSE(m.checkpoints.empty()) << m.dir;
}

TEST(OracleNets, CheckpointsMatchTheirKeyLists) {
    for (const auto& m : test::oracle_models()) {
        const auto expected = read_keys_tsv(m.dir + "/" + m.name + ".keys.tsv");
        for (const auto& path : m.checkpoints) {
            SCOPED_TRACE(path);
            io::CheckpointFile ck = io::open_checkpoint(path);
            std::set<std::string> got, want;
            for (const auto& kv : ck.tensors) got.insert(kv.first);
            for (const auto& kv : expected) want.insert(kv.first);
            EXPECT_EQ(got, want);
            for (const auto& kv : ck.tensors) {
                auto it = expected.find(kv.first);
                if (it == expected.end()) continue;
                EXPECT_EQ(kv.second.shape, it->second.shape) << kv.first;
                if (it->second.dtype == "int64") EXPECT_EQ(kv.second.dtype, io::DType::kI64) << kv.first;
                else
                    EXPECT_TRUE(kv.second.dtype == io::DType::kF32 || kv.second.dtype == io::DType::kF16 ||
                                kv.second.dtype == io::DType::kBF16)
                        << kv.first;
            }
        }
    }
}

TEST(OracleNets, FilesOfOneModelHoldTheSameWeights) {
    int compared = 0;
    for (const auto& m : test::oracle_models()) {
        if (m.checkpoints.size() < 2) continue;
        io::CheckpointFile a = io::open_checkpoint(m.checkpoints[0]);
        for (size_t i = 1; i < m.checkpoints.size(); ++i) {
            io::CheckpointFile b = io::open_checkpoint(m.checkpoints[i]);
            for (const auto& kv : a.tensors) {
                // Schedule buffers lose precision in fp16 files; the weights were fp16-exact.
                if (is_schedule_buffer(kv.first)) continue;
                auto it = b.tensors.find(kv.first);
                ASSERT_NE(it, b.tensors.end()) << kv.first;
                EXPECT_EQ(io::tensor_values(kv.second), io::tensor_values(it->second)) << kv.first;
                ++compared;
            }
        }
    }
    std::cout << "compared " << compared << " tensors across formats\n";
}

TEST(OracleNets, ConfigFromShapesAndSidecars) {
    for (const auto& m : test::oracle_models()) {
        const nlohmann::json meta = test::read_json(m.dir + "/" + m.name + ".json");
        const auto& inferred = meta["inferred_from_state_dict"];
        for (const auto& path : m.checkpoints) {
            SCOPED_TRACE(path);
            io::CheckpointFile ck = io::open_checkpoint(path);
            ModelConfig c = load_model_config(path, ck.tensors);
            EXPECT_EQ(model_kind(c), meta["kind"].get<std::string>());
            EXPECT_EQ(c.unet.in_channels, inferred["in_channels"].get<int>());
            EXPECT_EQ(c.unet.model_channels, inferred["model_channels"].get<int>());
            EXPECT_EQ(c.unet.context_dim, inferred["context_dim"].get<int>());
            EXPECT_EQ(c.unet.channel_mult, inferred["channel_mult"].get<std::vector<int>>());
            EXPECT_EQ(c.unet.attention_resolutions, inferred["attention_resolutions"].get<std::vector<int>>());
            EXPECT_EQ(c.unet.num_res_blocks, inferred["num_res_blocks"].get<int>());
            EXPECT_EQ(c.unet.transformer_depth, inferred["transformer_depth"].get<int>());
            EXPECT_EQ(c.unet.use_linear_in_transformer, inferred["use_linear_in_transformer"].get<bool>());
            EXPECT_EQ(c.vae.ch, inferred["vae"]["ch"].get<int>());
            EXPECT_EQ(c.vae.ch_mult, inferred["vae"]["ch_mult"].get<std::vector<int>>());
            EXPECT_EQ(c.text.width, inferred["text"]["width"].get<int>());
            EXPECT_EQ(c.text.layers, inferred["text"]["layers"].get<int>());
            EXPECT_EQ(c.text.heads, meta["text"]["heads"].get<int>());
            EXPECT_EQ(c.text.kind == TextEncoderKind::kOpenCLIP ? "open_clip" : "hf_clip",
                      inferred["text"]["type"].get<std::string>());
            const auto& up = meta["config"]["model"]["params"]["unet_config"]["params"];
            if (up.contains("num_head_channels")) {
                EXPECT_EQ(c.unet.num_head_channels, up["num_head_channels"].get<int>());
            }
            if (up.contains("num_heads")) {
                EXPECT_EQ(c.unet.num_heads, up["num_heads"].get<int>());
            }
        }
    }
}

// ESRGAN .pth files in every layout and wrapper found in the wild (upscale/rrdbnet/weights).
TEST(OracleUpscale, EsrganFilesLoadAsEsrgan) {
    const std::string dir = test::oracle_dir() + "/upscale/rrdbnet/weights";
    int n = 0;
    for (const std::string& f : test::list_dir(dir)) {
        if (!test::ends_with(f, ".pth")) continue;
        SCOPED_TRACE(f);
        io::CheckpointFile ck = io::open_checkpoint(dir + "/" + f);
        ModelConfig c = infer_model_config(ck.tensors, nullptr, nullptr);
        EXPECT_EQ(c.family, ModelFamily::kESRGAN);
        for (const auto& kv : ck.tensors) EXPECT_NE(kv.first.rfind("module.", 0), 0u) << kv.first;
        // A file holding both weight sets must yield the EMA ones.
        if (f.find("both") != std::string::npos) {
            EXPECT_EQ(ck.wrapper, "params_ema");
        }
        ++n;
    }
    EXPECT_GT(n, 0);
}
