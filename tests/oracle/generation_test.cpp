// The whole generation path: prompt text → conditioning (oracle text/pipeline.json, emphasis_apply.json,
// nets ref_text), and the engine's txt2img from a plain request reproducing the reference images,
// with residency, progress, preview, cancel and bad-request behaviour.
#include <gtest/gtest.h>

#include <cstdio>

#include <clocale>
#include <torch/cuda.h>

#include "engine/engine.h"
#include "io/checkpoint_file.h"
#include "io/checkpoint_keys.h"
#include "io/mapped_file.h"
#include "io/safetensors_writer.h"
#include "io/sha256.h"
#include "models/hypernetwork.h"
#include "models/hypertile.h"
#include "models/lora.h"
#include "models/state_loader.h"
#include "pipeline/sd_model.h"
#include "pipeline/textual_inversion.h"
#include "pipeline/conditioning.h"
#include "pipeline/generate.h"
#include "imaging/color_correction.h"
#include "imaging/flatten.h"
#include "imaging/inpaint_prep.h"
#include "pipeline/inpaint.h"
#include "pipeline/matched_noise.h"
#include "pipeline/txt2img.h"
#include "pipeline/upscale.h"
#include "sampling/samplers.h"
#include "sampling/schedules.h"
#include "support/oracle.h"
#include "support/synthetic_lora.h"
#include "support/tensor_file.h"
#include "support/torch_save_writer.h"
#include "support/vocab.h"
#include "text/extra_networks.h"
#include "text/multicond.h"

using namespace sdgimp;
using test::SyntheticLora;
using test::synthetic_lora;
using nlohmann::json;

TEST(OracleText, EmphasisApply) {
    const auto data = test::read_json(test::oracle_dir() + "/text/emphasis_apply.json");
    ASSERT_FALSE(data["cases"].empty());
    for (const auto& c : data["cases"]) {
        SCOPED_TRACE(c["id"].get<std::string>());
        const auto zv = c["z"].get<std::vector<std::vector<float>>>();
        auto z = torch::empty({1, static_cast<int64_t>(zv.size()), static_cast<int64_t>(zv[0].size())});
        for (size_t i = 0; i < zv.size(); ++i)
            for (size_t j = 0; j < zv[i].size(); ++j) z[0][static_cast<int64_t>(i)][static_cast<int64_t>(j)] = zv[i][j];
        const auto mv = c["multipliers"].get<std::vector<double>>();
        auto m = torch::tensor(std::vector<float>(mv.begin(), mv.end())).unsqueeze(0);
        for (const auto& [mode, want] : c["z_after"].items()) {
            auto got = pipeline::apply_emphasis(z, m, text::parse_emphasis_mode(mode))[0];
            const auto wv = want.get<std::vector<std::vector<float>>>();
            for (size_t i = 0; i < wv.size(); ++i)
                for (size_t j = 0; j < wv[i].size(); ++j)
                    EXPECT_NEAR(got[static_cast<int64_t>(i)][static_cast<int64_t>(j)].item<float>(), wv[i][j], 1e-5) << mode;
        }
    }
}

TEST(OracleText, PipelineTextPath) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    text::ClipTokenizer tok(test::vocab_path());
    const auto data = test::read_json(test::oracle_dir() + "/text/pipeline.json");
    ASSERT_FALSE(data["cases"].empty());
    for (const auto& c : data["cases"]) {
        SCOPED_TRACE(c["id"].get<std::string>());
        const auto xn = text::parse_extra_networks(c["prompt"]);
        EXPECT_EQ(xn.stripped, c["prompt_after_extra_networks"].get<std::string>());
        text::ScheduleOptions so;
        so.steps = c["steps"];
        for (const char* fam : {"sd1", "sd2"}) {
            SCOPED_TRACE(fam);
            const auto flavor = std::string(fam) == "sd2" ? text::TokenizerFlavor::kOpenCLIP : text::TokenizerFlavor::kHF;
            auto check = [&](const text::PromptSchedule& sched, const json& want) {
                json got_sched = json::array();
                std::vector<std::string> texts;
                for (const auto& [end, t] : sched) {
                    got_sched.push_back(json::array({end, t}));
                    texts.push_back(t);
                }
                EXPECT_EQ(got_sched, want["schedule"]);
                const auto batches = pipeline::batch_chunks(tok, texts, flavor, text::EmphasisMode::kOriginal);
                ASSERT_EQ(batches.size(), want["encode_batches"].size());
                for (size_t k = 0; k < batches.size(); ++k) {
                    const auto& wb = want["encode_batches"][k];
                    ASSERT_EQ(batches[k].size(), wb["tokens"].size());
                    for (size_t i = 0; i < batches[k].size(); ++i) {
                        EXPECT_EQ(batches[k][i].tokens, wb["tokens"][i].get<std::vector<int>>());
                        EXPECT_EQ(batches[k][i].multipliers, wb["multipliers"][i].get<std::vector<double>>());
                        EXPECT_EQ(batches[k][i].transformer_tokens, wb["transformer_tokens"][i].get<std::vector<int>>());
                    }
                }
            };
            const auto subs = text::split_and(xn.stripped);
            ASSERT_EQ(subs.size(), c[fam]["positive"].size());
            for (size_t i = 0; i < subs.size(); ++i) {
                const auto& want = c[fam]["positive"][i];
                EXPECT_EQ(subs[i].text, want["text"].get<std::string>());
                EXPECT_EQ(subs[i].weight, want["weight"].get<double>());
                check(text::prompt_schedule(subs[i].text, so), want);
            }
            check(text::prompt_schedule(c["negative_prompt"], so), c[fam]["negative"]);
        }
    }
}

TEST(OracleNets, TextFromPromptStrings) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    text::ClipTokenizer tok(test::vocab_path());
    int checked = 0;
    for (const auto& mdl : test::oracle_models()) {
        auto ref = test::load_tensor_file(mdl.dir + "/ref_text.safetensors");
        const auto prompts = json::parse(ref.meta.at("prompts")).get<std::vector<std::string>>();
        auto m = pipeline::load_sd_model(mdl.checkpoints.front());
        const auto flavor = m->cfg.text.kind == TextEncoderKind::kOpenCLIP ? text::TokenizerFlavor::kOpenCLIP
                                                                           : text::TokenizerFlavor::kHF;
        for (size_t i = 0; i < prompts.size(); ++i) {
            text::ChunkSettings cs;
            cs.flavor = flavor;
            const auto chunked = text::chunk_prompt(tok, prompts[i], cs);
            // The reference cuts long prompts at 77 tokens; A1111 chunks them, so compare single-chunk prompts.
            if (chunked.chunks.size() != 1) continue;
            SCOPED_TRACE(mdl.name + ": " + prompts[i]);
            const auto want_ids = ref["tokens"][static_cast<int64_t>(i)];
            for (int k = 0; k < 77; ++k)
                EXPECT_EQ(chunked.chunks[0].transformer_tokens[static_cast<size_t>(k)], want_ids[k].item<int64_t>());
            auto z = pipeline::encode_texts(*m, tok, {prompts[i]}, {});
            EXPECT_TRUE(test::all_close(z[0], ref["z"][static_cast<int64_t>(i)], 1e-4, 1e-4));
            ++checked;
        }
    }
    EXPECT_GT(checked, 0);
}

namespace {

// An embedding whose vectors are the token vectors of `words`: a prompt naming it must encode
// exactly as the prompt with those words.
void write_embedding(const std::string& path, pipeline::SDModel& m, const text::ClipTokenizer& tok, text::TokenizerFlavor flavor,
                     const std::string& words, int extra_width = 0) {
    const std::vector<int> ids = tok.encode(words, flavor);
    auto table = m.net->text->open_clip ? m.net->text->open_clip->token_embedding->weight : m.net->text->hf->token_embedding->weight;
    torch::Tensor v = table.index_select(0, torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()), torch::kLong)).to(torch::kFloat);
    if (extra_width) v = torch::cat({v, torch::zeros({v.size(0), extra_width})}, 1);
    v = v.contiguous();
    io::write_safetensors(path, {{"emb_params", v.sizes().vec(), std::vector<float>(v.data_ptr<float>(), v.data_ptr<float>() + v.numel())}});
}

}  // namespace

// A1111's textual inversion: a word of the prompt that spells an embedding's file name becomes the
// embedding's vectors. An embedding made of the token vectors of "red house" encodes exactly as
// those words, with emphasis too; it moves whole to the next chunk when the current one has no room;
// files of another width or layout are left out; "TI hashes" lists the embeddings a text uses.
TEST(OracleNets, TextualInversionEmbeddingsReplaceTheirName) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    text::ClipTokenizer tok(test::vocab_path());
    char tmpl[] = "/tmp/gd-ti-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    int checked = 0;
    for (const auto& mdl : test::oracle_models()) {
        if (mdl.checkpoints.empty()) continue;
        SCOPED_TRACE(mdl.name);
        auto m = pipeline::load_sd_model(mdl.checkpoints.front());
        const auto flavor = m->cfg.text.kind == TextEncoderKind::kOpenCLIP ? text::TokenizerFlavor::kOpenCLIP : text::TokenizerFlavor::kHF;
        write_embedding(dir + "/zzqxa.safetensors", *m, tok, flavor, "red house");
        write_embedding(dir + "/wide.safetensors", *m, tok, flavor, "blue", 1);
        io::write_safetensors(dir + "/two-terms.safetensors", {{"a", {1, 4}, std::vector<float>(4, 0.f)}, {"b", {1, 4}, std::vector<float>(4, 0.f)}});
        pipeline::TextualInversions db;
        ASSERT_TRUE(db.refresh({dir}, m->cfg.text.width, tok, flavor));
        EXPECT_FALSE(db.refresh({dir}, m->cfg.text.width, tok, flavor));  // nothing changed: nothing read
        ASSERT_EQ(db.items().size(), 1u);
        EXPECT_EQ(db.items()[0].name, "zzqxa");
        pipeline::TextSettings with;
        with.embeddings = &db;
        for (const auto& [named, spelled] : std::vector<std::pair<std::string, std::string>>{
                 {"a zzqxa by a lake", "a red house by a lake"}, {"a (zzqxa:1.3) by a lake", "a (red house:1.3) by a lake"}}) {
            const auto z = pipeline::encode_texts(*m, tok, {named}, with);
            const auto want = pipeline::encode_texts(*m, tok, {spelled}, {});
            EXPECT_LT(test::max_abs_diff(z, want), 1e-5) << named;
        }
        // Without the embeddings the name is plain text.
        EXPECT_GT(test::max_abs_diff(pipeline::encode_texts(*m, tok, {"a zzqxa by a lake"}, {}),
                                     pipeline::encode_texts(*m, tok, {"a red house by a lake"}, {})), 1e-3);
        // 74 words, then the two-vector embedding: it does not fit in the first chunk's last slot.
        std::string longp;
        for (int i = 0; i < 74; ++i) longp += "cat ";
        text::ChunkSettings cs;
        cs.flavor = flavor;
        cs.embeddings = &db.words();
        const auto chunked = text::chunk_prompt(tok, longp + "zzqxa", cs);
        ASSERT_EQ(chunked.chunks.size(), 2u);
        EXPECT_TRUE(chunked.chunks[0].fixes.empty());
        ASSERT_EQ(chunked.chunks[1].fixes.size(), 1u);
        EXPECT_EQ(chunked.chunks[1].fixes[0], std::make_pair(0, 0));
        EXPECT_EQ(chunked.token_count, 75 + 2);
        const auto mapped = io::MappedFile::open(dir + "/zzqxa.safetensors");
        EXPECT_EQ(db.hashes_for({"a zzqxa", "blurry"}, tok, flavor), "zzqxa: " + io::sha256_hex(mapped->data(), mapped->size()).substr(0, 12));
        EXPECT_EQ(db.hashes_for({"a red house"}, tok, flavor), "");
        for (const char* f : {"/zzqxa.safetensors", "/wide.safetensors", "/two-terms.safetensors"}) ::unlink((dir + f).c_str());
        ++checked;
    }
    ::rmdir(dir.c_str());
    EXPECT_GT(checked, 0);
}

// Through the engine: the embeddings folder of the load request is read, a prompt naming the
// embedding gives the very image of the words it stands for, with A1111's "TI hashes"; a file added
// later is picked up by the next run.
TEST(OracleNets, EngineReadsEmbeddingsFolders) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    const auto& mdl = models.front();
    text::ClipTokenizer tok(test::vocab_path());
    char tmpl[] = "/tmp/gd-ti-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    Engine engine;
    ModelRequest mr(mdl.checkpoints.front(), "", test::vocab_path());
    mr.embedding_dirs = {dir};
    ASSERT_TRUE(engine.load_model(mr, nullptr).ok);
    GenerateRequest r;
    r.steps = 3;
    r.width = r.height = 64;
    r.seed = 7;
    auto run = [&](const std::string& prompt, std::string* text) {
        r.prompt = prompt;
        std::vector<GeneratedImage> out;
        const Status st = engine.txt2img(r, {}, &out);
        EXPECT_TRUE(st.ok) << st.message;
        if (out.empty()) return torch::Tensor();
        if (text) *text = out[0].infotext;
        const Image& im = out[0].image;
        return torch::from_blob(out[0].image.pixels.data(), {im.height, im.width, 3}, torch::kUInt8).to(torch::kInt);
    };
    std::string text;
    const auto spelled = run("a red house by a lake", &text);
    const auto before = run("a zzqxa by a lake", &text);  // no such embedding yet: plain words
    EXPECT_EQ(text.find("TI hashes"), std::string::npos) << text;
    {
        auto m = pipeline::load_sd_model(mdl.checkpoints.front());
        const auto flavor = m->cfg.text.kind == TextEncoderKind::kOpenCLIP ? text::TokenizerFlavor::kOpenCLIP : text::TokenizerFlavor::kHF;
        write_embedding(dir + "/zzqxa.safetensors", *m, tok, flavor, "red house");
    }
    const auto named = run("a zzqxa by a lake", &text);
    ASSERT_TRUE(named.defined() && spelled.defined() && before.defined());
    EXPECT_TRUE(named.equal(spelled));
    EXPECT_FALSE(before.equal(spelled));
    const auto mapped = io::MappedFile::open(dir + "/zzqxa.safetensors");
    const std::string ti = "TI hashes: \"zzqxa: " + io::sha256_hex(mapped->data(), mapped->size()).substr(0, 12) + "\"";
    EXPECT_NE(text.find(ti), std::string::npos) << text;
    // In a hires prompt only: the second pass sees the phrase's vectors, and the record names it.
    r.enable_hr = true;
    r.hr_scale = 1.5;
    r.denoising_strength = 0.5;
    r.hr_prompt = "a red house by a lake";
    const auto hires_spelled = run("a cat by a lake", &text);
    EXPECT_EQ(text.find("TI hashes"), std::string::npos) << text;
    r.hr_prompt = "a zzqxa by a lake";
    const auto hires_named = run("a cat by a lake", &text);
    ASSERT_TRUE(hires_spelled.defined() && hires_named.defined());
    EXPECT_EQ(hires_named.size(0), 96);
    EXPECT_TRUE(hires_named.equal(hires_spelled));
    EXPECT_NE(text.find(ti), std::string::npos) << text;
    ::unlink((dir + "/zzqxa.safetensors").c_str());
    ::rmdir(dir.c_str());
}

// Each prompt schedule's encoding is reused while its text and settings stay: a step-count change
// keeps a plain prompt's, re-encodes one that switches at a fraction of the steps; the least recently
// used goes first; every reused value equals a fresh encoding.
TEST(OracleNets, ConditioningCacheKeepsPromptsApart) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    text::ClipTokenizer tok(test::vocab_path());
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    const auto m = pipeline::load_sd_model(models.front().checkpoints.front());
    pipeline::ConditioningCache cache;
    auto run = [&](const std::string& prompt, const std::string& negative, int steps) {
        const auto cached = pipeline::encode_run_cached(&cache, *m, tok, prompt, negative, steps, 1, 7.0, {});
        const auto fresh = pipeline::encode_run(*m, tok, prompt, negative, steps, 1, 7.0, {});
        EXPECT_TRUE(torch::equal(cached->negative.conds, fresh.negative.conds));
        EXPECT_EQ(cached->positive.size(), fresh.positive.size());
        for (size_t i = 0; i < std::min(cached->positive.size(), fresh.positive.size()); ++i)
            EXPECT_TRUE(torch::equal(cached->positive[i].first.conds, fresh.positive[i].first.conds));
        for (int call = 1; call <= steps; ++call)
            EXPECT_TRUE(torch::equal(cached->at(call).cond, fresh.at(call).cond)) << prompt << " @ " << call;
    };
    run("a red bicycle", "blurry", 10);
    EXPECT_EQ(cache.misses, 2);
    run("a red bicycle", "blurry", 20);  // plain prompts: the same encodings for any step count
    EXPECT_EQ(cache.hits, 2);
    run("a blue bicycle", "blurry", 20);  // an edited prompt: the negative prompt is reused
    EXPECT_EQ(cache.hits, 3);
    EXPECT_EQ(cache.misses, 3);
    run("[a cat:a dog:0.5]", "blurry", 10);
    run("[a cat:a dog:0.5]", "blurry", 20);  // switches at step 5, then at step 10: encoded again
    EXPECT_EQ(cache.misses, 5);
    EXPECT_EQ(cache.hits, 5);
    for (int i = 0; i < 10; ++i) run("prompt " + std::to_string(i), "blurry", 10);
    EXPECT_EQ(cache.entries.size(), pipeline::ConditioningCache::kCapacity);
    const int misses = cache.misses;
    run("a red bicycle", "blurry", 10);  // evicted by the ten newer prompts
    EXPECT_EQ(cache.misses, misses + 1);
}

namespace {

GenerateRequest request_for(const test::TensorFile& ref) {
    GenerateRequest r;
    r.prompt = ref.meta.at("prompt");
    r.negative_prompt = ref.meta.at("negative_prompt");
    const auto seeds = json::parse(ref.meta.at("seeds")).get<std::vector<int64_t>>();
    r.seed = seeds[0];
    r.batch_size = static_cast<int>(seeds.size());
    const std::string s = ref.meta.at("sampler");
    r.sampler = s == "euler_a" ? "Euler a" : "DPM++ 2M";
    r.schedule = s == "euler_a" ? "Automatic" : "Karras";
    r.steps = std::stoi(ref.meta.at("steps"));
    r.cfg_scale = std::stod(ref.meta.at("cfg_scale"));
    r.width = std::stoi(ref.meta.at("width"));
    r.height = std::stoi(ref.meta.at("height"));
    r.rng = "CPU";
    return r;
}

// The model's first txt2img reference file, "" when it has none.
std::string first_t2i_reference(const test::OracleModel& mdl) {
    for (const std::string& f : test::list_dir(mdl.dir))
        if (f.rfind("ref_t2i_", 0) == 0 && test::ends_with(f, ".safetensors")) return mdl.dir + "/" + f;
    return "";
}

// The reference request cut to one small image: the state tests below compare runs with each other.
GenerateRequest small_request(const test::TensorFile& ref) {
    GenerateRequest r = request_for(ref);
    r.batch_size = 1;
    r.width = r.height = 64;
    r.steps = 4;
    return r;
}

}  // namespace

TEST(OracleNets, EngineTxt2ImgReproducesReferenceImages) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    int runs = 0;
    for (const auto& mdl : test::oracle_models()) {
        Engine engine;
        const int runs_before = runs;
        for (const std::string& f : test::list_dir(mdl.dir)) {
            if (f.rfind("ref_t2i_", 0) != 0 || !test::ends_with(f, ".safetensors")) continue;
            auto ref = test::load_tensor_file(mdl.dir + "/" + f);
            SCOPED_TRACE(mdl.name + " " + f);
            LoadedModel info;
            ASSERT_TRUE(engine.load_model({mdl.checkpoints.front(), "", test::vocab_path()}, &info).ok);
            const GenerateRequest r = request_for(ref);
            int last_done = 0, last_total = 0, previews = 0;
            RunCallbacks cb;
            cb.progress = [&](int d, int t) { last_done = d; last_total = t; };
            cb.preview = [&](const Image& im) {
                EXPECT_EQ(im.width, r.width / 8);
                ++previews;
            };
            std::vector<GeneratedImage> out;
            const Status st = engine.txt2img(r, cb, &out);
            ASSERT_TRUE(st.ok) << st.message;
            EXPECT_EQ(last_done, r.steps);
            EXPECT_EQ(last_total, r.steps);
            EXPECT_EQ(previews, r.steps / cb.preview_every);
            const auto& want = ref["images_uint8"];
            ASSERT_EQ(out.size(), static_cast<size_t>(want.size(0)));
            for (size_t i = 0; i < out.size(); ++i) {
                auto got = torch::from_blob(out[i].image.pixels.data(), {r.height, r.width, 3}, torch::kUInt8).to(torch::kInt);
                const int diff = (got - want[static_cast<int64_t>(i)].to(torch::kInt)).abs().max().item<int>();
                EXPECT_LE(diff, 1) << "image " << i;
                EXPECT_EQ(out[i].seed, r.seed + static_cast<int64_t>(i));
                EXPECT_NE(out[i].infotext.find("Seed: " + std::to_string(r.seed + static_cast<int64_t>(i)) + ","), std::string::npos);
                EXPECT_NE(out[i].infotext.find("Model hash: " + info.hash), std::string::npos);
            }
            ++runs;
        }
        if (runs > runs_before) {
            EXPECT_EQ(engine.model_loads(), 1) << "the model must stay loaded between calls";
        }
    }
    EXPECT_GT(runs, 0);
}

// Tiling (A1111's circular padding) is per request: a run with it records "Tiling: True" and
// differs from the reference, the same request gives the same image again, and the next run
// without it is the reference image again (the padding is put back).
TEST(OracleNets, EngineTilingIsPerRequest) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    const auto& mdl = models.front();
    const std::string ref_file = first_t2i_reference(mdl);
    ASSERT_FALSE(ref_file.empty());
    auto ref = test::load_tensor_file(ref_file);
    Engine engine;
    ASSERT_TRUE(engine.load_model({mdl.checkpoints.front(), "", test::vocab_path()}, nullptr).ok);
    GenerateRequest r = small_request(ref);
    auto run = [&](bool tiling, std::string* infotext) {
        r.tiling = tiling;
        std::vector<GeneratedImage> out;
        const Status st = engine.txt2img(r, {}, &out);
        EXPECT_TRUE(st.ok) << st.message;
        if (out.empty()) return torch::Tensor();
        if (infotext) *infotext = out[0].infotext;
        return torch::from_blob(out[0].image.pixels.data(), {r.height, r.width, 3}, torch::kUInt8).to(torch::kInt);
    };
    std::string text;
    const auto want = run(false, nullptr);
    const auto tiled = run(true, &text);
    ASSERT_TRUE(tiled.defined());
    EXPECT_NE(text.find("Tiling: True"), std::string::npos) << text;
    EXPECT_GT((tiled - want).abs().max().item<int>(), 8);
    EXPECT_TRUE(run(true, nullptr).equal(tiled));
    const auto plain = run(false, &text);
    EXPECT_TRUE(plain.equal(want));
    EXPECT_EQ(text.find("Tiling"), std::string::npos) << text;
}

// A1111's "SD VAE": a separate VAE file replaces the checkpoint's first stage. The checkpoint's own
// VAE saved as a file gives the reference images, with "VAE hash" and "VAE" in the parameters
// text; a changed one changes them; "Automatic" takes <stem>.vae.safetensors beside the checkpoint
// and "None" ignores it; a file of another layout or no file is one sentence.
TEST(OracleNets, EngineSeparateVaeFile) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    const auto& mdl = models.front();
    const std::string ref_file = first_t2i_reference(mdl);
    ASSERT_FALSE(ref_file.empty());
    auto ref = test::load_tensor_file(ref_file);
    char tmpl[] = "/tmp/gd-vae-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    // The checkpoint's VAE as A1111's VAE files hold it: "encoder.", "decoder.", ... at the top.
    std::vector<io::FloatTensor> vae;
    {
        io::CheckpointFile ck = io::open_checkpoint(mdl.checkpoints.front());
        for (const auto& [key, t] : io::normalize_sd_keys(std::move(ck.tensors))) {
            if (key.rfind("first_stage_model.", 0) != 0) continue;
            const torch::Tensor v = models::to_torch(t).to(torch::kFloat).contiguous();
            vae.push_back({key.substr(18), v.sizes().vec(), std::vector<float>(v.data_ptr<float>(), v.data_ptr<float>() + v.numel())});
        }
    }
    ASSERT_FALSE(vae.empty());
    const std::string same = dir + "/same-vae.safetensors", brighter = dir + "/brighter.safetensors", partial = dir + "/partial.safetensors";
    io::write_safetensors(same, vae);
    auto edited = vae;
    for (auto& t : edited)
        if (t.name == "decoder.conv_out.bias") for (float& v : t.values) v += 0.5f;
    io::write_safetensors(brighter, edited);
    auto cut = vae;
    cut.pop_back();
    io::write_safetensors(partial, cut);
    // The checkpoint (and its configs) seen from a folder that also holds <stem>.vae.safetensors.
    const std::string ck = mdl.checkpoints.front();
    const std::string base = ck.substr(ck.find_last_of('/') + 1), stem = base.substr(0, base.find_last_of('.'));
    std::vector<std::string> links = {base};
    for (const std::string& f : test::list_dir(mdl.dir))
        if (test::ends_with(f, ".yaml") || test::ends_with(f, ".json")) links.push_back(f);  // its configs, by their names
    for (const std::string& f : links) ASSERT_EQ(::symlink((mdl.dir + "/" + f).c_str(), (dir + "/" + f).c_str()), 0);
    io::write_safetensors(dir + "/" + stem + ".vae.safetensors", edited);

    GenerateRequest r = small_request(ref);
    Engine engine;
    auto run = [&](const std::string& checkpoint, const std::string& vae_choice, LoadedModel* info, std::string* text) {
        ModelRequest mr{checkpoint, "", test::vocab_path()};
        mr.vae = vae_choice;
        const Status ls = engine.load_model(mr, info);
        if (!ls.ok) return std::make_pair(torch::Tensor(), ls.message);
        std::vector<GeneratedImage> out;
        const Status st = engine.txt2img(r, {}, &out);
        EXPECT_TRUE(st.ok) << st.message;
        if (out.empty()) return std::make_pair(torch::Tensor(), st.message);
        if (text) *text = out[0].infotext;
        return std::make_pair(torch::from_blob(out[0].image.pixels.data(), {r.height, r.width, 3}, torch::kUInt8).to(torch::kInt),
                              std::string());
    };
    LoadedModel info;
    std::string text;
    const auto [want, err0] = run(ck, "None", nullptr, nullptr);
    ASSERT_TRUE(want.defined()) << err0;
    auto [img, err] = run(ck, same, &info, &text);
    ASSERT_TRUE(img.defined()) << err;
    EXPECT_TRUE(img.equal(want));
    const auto mapped = io::MappedFile::open(same);
    const std::string hash = io::sha256_hex(mapped->data(), mapped->size()).substr(0, 10);
    EXPECT_EQ(info.vae_hash, hash);
    EXPECT_EQ(info.vae_name, "same-vae.safetensors");
    EXPECT_NE(text.find("VAE hash: " + hash + ", VAE: same-vae.safetensors"), std::string::npos) << text;

    auto [bright, err2] = run(ck, brighter, nullptr, nullptr);
    ASSERT_TRUE(bright.defined()) << err2;
    EXPECT_GT((bright - img).to(torch::kFloat).mean().item<double>(), 20.0);  // conv_out bias +0.5: about +64 of 255

    auto [automatic, err3] = run(dir + "/" + base, "", &info, &text);
    ASSERT_TRUE(automatic.defined()) << err3;
    EXPECT_TRUE(automatic.equal(bright));
    EXPECT_EQ(info.vae_name, stem + ".vae.safetensors");
    auto [none, err4] = run(dir + "/" + base, "None", &info, &text);
    ASSERT_TRUE(none.defined()) << err4;
    EXPECT_TRUE(none.equal(want));
    EXPECT_TRUE(info.vae_name.empty());
    EXPECT_EQ(text.find("VAE"), std::string::npos) << text;

    auto [no1, partial_err] = run(ck, partial, nullptr, nullptr);
    EXPECT_FALSE(no1.defined());
    EXPECT_NE(partial_err.find(partial + ": is not a VAE for this"), std::string::npos) << partial_err;
    EXPECT_NE(partial_err.find("missing"), std::string::npos) << partial_err;
    auto [no2, missing_err] = run(ck, dir + "/nowhere.safetensors", nullptr, nullptr);
    EXPECT_FALSE(no2.defined());
    EXPECT_EQ(missing_err, "The VAE file " + dir + "/nowhere.safetensors cannot be read; check the path, or choose Automatic or None.");

    for (const std::string& f : links) ::unlink((dir + "/" + f).c_str());
    for (const std::string& f : {same, brighter, partial, dir + "/" + stem + ".vae.safetensors"}) ::unlink(f.c_str());
    ::rmdir(dir.c_str());
}

// kohya's diffusers-style LoRA names become A1111's names of the checkpoint's layers.
TEST(Lora, LayerNamesFollowA1111) {
    const std::vector<std::tuple<std::string, bool, std::string>> cases = {
        {"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", false, "diffusion_model_input_blocks_1_1_transformer_blocks_0_attn1_to_q"},
        {"lora_unet_down_blocks_1_resnets_1_conv2", false, "diffusion_model_input_blocks_5_0_out_layers_3"},
        {"lora_unet_down_blocks_2_downsamplers_0_conv", false, "diffusion_model_input_blocks_9_0_op"},
        {"lora_unet_mid_block_resnets_1_time_emb_proj", false, "diffusion_model_middle_block_2_emb_layers_1"},
        {"lora_unet_mid_block_attentions_0_proj_out", false, "diffusion_model_middle_block_1_proj_out"},
        {"lora_unet_up_blocks_2_attentions_1_transformer_blocks_0_ff_net_2", false, "diffusion_model_output_blocks_7_1_transformer_blocks_0_ff_net_2"},
        {"lora_unet_up_blocks_3_resnets_2_conv_shortcut", false, "diffusion_model_output_blocks_11_0_skip_connection"},
        {"lora_unet_up_blocks_0_upsamplers_0_conv", false, "diffusion_model_output_blocks_2_1_conv"},
        {"lora_unet_up_blocks_1_upsamplers_0_conv", false, "diffusion_model_output_blocks_5_2_conv"},
        {"lora_unet_time_embedding_linear_1", false, "diffusion_model_time_embed_0"},
        {"lora_unet_time_embedding_linear_2", false, "diffusion_model_time_embed_2"},
        {"lora_unet_conv_in", false, "diffusion_model_input_blocks_0_0"},
        {"lora_unet_conv_out", false, "diffusion_model_out_2"},
        {"lora_te_text_model_encoder_layers_11_self_attn_q_proj", false, "transformer_text_model_encoder_layers_11_self_attn_q_proj"},
        {"lora_te_text_model_encoder_layers_3_self_attn_out_proj", true, "model_transformer_resblocks_3_attn_out_proj"},
        {"lora_te_text_model_encoder_layers_3_mlp_fc1", true, "model_transformer_resblocks_3_mlp_c_fc"},
        {"lora_te_text_model_encoder_layers_3_mlp_fc2", true, "model_transformer_resblocks_3_mlp_c_proj"},
        {"some_other_key", false, "some_other_key"},
    };
    for (const auto& [key, sd2, want] : cases) EXPECT_EQ(models::lora_layer_name(key, sd2), want) << key;
}


// The merged weights are A1111's: W + multiplier * alpha / rank * (up @ down), te and unet
// multipliers apart, and restore() gives every layer its very tensor back.
TEST(OracleNets, LoraWeightsAreMergedAndRestored) {
    char tmpl[] = "/tmp/gd-lora-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    int checked = 0;
    for (const auto& mdl : test::oracle_models()) {
        if (mdl.checkpoints.empty()) continue;
        SCOPED_TRACE(mdl.name);
        auto m = pipeline::load_sd_model(mdl.checkpoints.front());
        const SyntheticLora lora = synthetic_lora(*m);
        const std::string file = dir + "/" + mdl.name + ".safetensors";
        io::write_safetensors(file, lora.tensors);
        auto params = m->net->named_parameters(true);
        std::map<std::string, torch::Tensor> before;
        for (const auto& [key, change] : lora.changes) {
            const std::string name = key.substr(0, key.find('#'));
            before[name] = params[name].detach().clone();
        }
        const torch::Tensor untouched = params["model.diffusion_model.out.2.weight"];
        models::LoraWeights w;
        models::LoraCall call;
        call.name = mdl.name;
        call.path = file;
        call.te = 0.7;
        call.unet = 0.4;
        const bool sd2 = m->cfg.text.kind == TextEncoderKind::kOpenCLIP;
        const auto res = w.apply(m->net, {call}, sd2);
        ASSERT_EQ(res.size(), 1u);
        EXPECT_EQ(res[0].layers, static_cast<int>(lora.changes.size()));
        for (const auto& [key, change] : lora.changes) {
            const std::string name = key.substr(0, key.find('#'));
            const int64_t row0 = std::stoll(key.substr(key.find('#') + 1));
            const double mult = name.rfind("cond_stage_model.", 0) == 0 ? 0.7 : 0.4;
            const auto want = before[name].slice(0, row0, row0 + change.size(0)) + change * mult;
            const auto got = params[name].slice(0, row0, row0 + change.size(0));
            EXPECT_LT(test::max_abs_diff(got, want), 1e-6) << key;
        }
        EXPECT_TRUE(params["model.diffusion_model.out.2.weight"].is_same(untouched));
        w.restore();
        for (const auto& [name, b] : before) EXPECT_TRUE(params[name].equal(b)) << name;
        // A LoRA of another family: its layers' shapes say so, and nothing stays changed.
        auto wrong = lora.tensors;
        for (auto& t : wrong)
            if (t.name.find("attn1_to_q.lora_down") != std::string::npos) {
                t.shape[1] += 1;
                t.values.resize(t.values.size() / (t.shape[1] - 1) * t.shape[1], 0.0f);
            }
        io::write_safetensors(file, wrong);
        try {
            (void)w.apply(m->net, {call}, sd2);
            ADD_FAILURE() << "a mis-shaped LoRA was applied";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("it is a LoRA for another model family"), std::string::npos) << e.what();
        }
        w.restore();
        for (const auto& [name, b] : before) EXPECT_TRUE(params[name].equal(b)) << name;
        ::unlink(file.c_str());
        ++checked;
    }
    ::rmdir(dir.c_str());
    EXPECT_GT(checked, 0);
}

// LyCORIS's LoHa and LoKr as A1111's network_hada / network_lokr merge them, against the formulas
// written out here: LoHa (w1a @ w1b) * (w2a @ w2b) (with CP cores: t x_0 wa x_1 wb per pair) times
// alpha / rank; LoKr kron(w1, w2) times alpha / rank of the factorised side, and 1 when no side is
// factorised (A1111 ignores alpha then); DoRA's magnitudes on top. Other LyCORIS kinds are refused
// with the layer named.
TEST(OracleNets, LycorisLohaAndLokrAreMerged) {
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    auto m = pipeline::load_sd_model(models.front().checkpoints.front());
    const bool sd2 = m->cfg.text.kind == TextEncoderKind::kOpenCLIP;
    auto params = m->net->named_parameters(true);
    const std::string u = "model.diffusion_model.";
    const std::string q = u + "input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight";
    const std::string conv = u + "input_blocks.1.0.in_layers.2.weight";
    const std::string k = u + "input_blocks.1.1.transformer_blocks.0.attn1.to_k.weight";
    const std::string v = u + "input_blocks.1.1.transformer_blocks.0.attn1.to_v.weight";
    const auto Wq = params[q].detach().clone(), Wc = params[conv].detach().clone(), Wk = params[k].detach().clone(),
               Wv = params[v].detach().clone();
    ASSERT_EQ(Wc.dim(), 4);
    ASSERT_EQ(Wk.size(0) % 2, 0);
    torch::manual_seed(9);
    std::vector<io::FloatTensor> t;
    auto put = [&](const std::string& key, const torch::Tensor& x) {
        const torch::Tensor c = x.contiguous().to(torch::kFloat);
        t.push_back({key, c.sizes().vec(), std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel())});
    };
    auto rnd = [](std::vector<int64_t> shape) { return torch::randn(shape) * 0.1; };
    const std::string pq = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";
    const std::string pc = "lora_unet_down_blocks_0_resnets_0_conv1";
    const std::string pk = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_k";
    const std::string pv = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_v";
    // LoHa on a linear layer, rank 3, alpha 1.5.
    const auto a1 = rnd({Wq.size(0), 3}), b1 = rnd({3, Wq.size(1)}), a2 = rnd({Wq.size(0), 3}), b2 = rnd({3, Wq.size(1)});
    put(pq + ".hada_w1_a", a1); put(pq + ".hada_w1_b", b1); put(pq + ".hada_w2_a", a2); put(pq + ".hada_w2_b", b2);
    put(pq + ".alpha", torch::full({}, 1.5));
    const auto dq = torch::mm(a1, b1) * torch::mm(a2, b2) * (1.5 / 3);
    // LoHa with CP cores on the 3x3 convolution, rank 2, no alpha (scale 1).
    const int64_t co = Wc.size(0), ci = Wc.size(1), kh = Wc.size(2), kw = Wc.size(3);
    const auto t1 = rnd({2, 2, kh, kw}), c1a = rnd({2, co}), c1b = rnd({2, ci}), t2 = rnd({2, 2, kh, kw}), c2a = rnd({2, co}), c2b = rnd({2, ci});
    put(pc + ".hada_t1", t1); put(pc + ".hada_w1_a", c1a); put(pc + ".hada_w1_b", c1b);
    put(pc + ".hada_t2", t2); put(pc + ".hada_w2_a", c2a); put(pc + ".hada_w2_b", c2b);
    auto cp = [](const torch::Tensor& core, const torch::Tensor& wa, const torch::Tensor& wb) {
        // d[o][i][y][x] = sum_ab core[a][b][y][x] * wa[a][o] * wb[b][i]
        return torch::tensordot(torch::tensordot(wa.t(), core, {1}, {0}), wb, {1}, {0}).permute({0, 3, 1, 2});
    };
    const auto dc = cp(t1, c1a, c1b) * cp(t2, c2a, c2b);
    // LoKr on to_k: w1 whole (2 x 1), w2 factorised at rank 2, alpha 4: scale 4 / 2.
    const auto kw1 = rnd({2, 1}), kw2a = rnd({Wk.size(0) / 2, 2}), kw2b = rnd({2, Wk.size(1)});
    put(pk + ".lokr_w1", kw1); put(pk + ".lokr_w2_a", kw2a); put(pk + ".lokr_w2_b", kw2b); put(pk + ".alpha", torch::full({}, 4.0));
    const auto dk = torch::kron(kw1, torch::mm(kw2a, kw2b)) * 2.0;
    // LoKr on to_v with both sides whole: alpha is ignored.
    const auto vw1 = rnd({1, 2}), vw2 = rnd({Wv.size(0), Wv.size(1) / 2});
    ASSERT_EQ(Wv.size(1) % 2, 0);
    put(pv + ".lokr_w1", vw1); put(pv + ".lokr_w2", vw2); put(pv + ".alpha", torch::full({}, 8.0));
    const auto dv = torch::kron(vw1, vw2);

    char tmpl[] = "/tmp/gd-lyco-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string file = std::string(tmpl) + "/lyco.safetensors";
    io::write_safetensors(file, t);
    models::LoraWeights w;
    models::LoraCall call;
    call.name = "lyco";
    call.path = file;
    call.unet = 0.5;
    const auto res = w.apply(m->net, {call}, sd2);
    EXPECT_EQ(res[0].layers, 4);
    EXPECT_LT(test::max_abs_diff(params[q], Wq + dq * 0.5), 1e-6);
    EXPECT_LT(test::max_abs_diff(params[conv], Wc + dc * 0.5), 1e-6);
    EXPECT_LT(test::max_abs_diff(params[k], Wk + dk * 0.5), 1e-6);
    EXPECT_LT(test::max_abs_diff(params[v], Wv + dv * 0.5), 1e-6);
    w.restore();
    EXPECT_TRUE(params[q].equal(Wq));
    EXPECT_TRUE(params[conv].equal(Wc));
    // DoRA on the LoHa layer: the scaled change merged, its input columns' norms set to dora_scale,
    // the original taken off, then the multiplier (A1111's apply_weight_decompose).
    const auto magnitude = torch::rand({1, Wq.size(1)}) + 0.5;
    put(pq + ".dora_scale", magnitude);
    io::write_safetensors(file, t);
    (void)w.apply(m->net, {call}, sd2);
    {
        const auto merged = Wq + dq;
        const auto col_norm = merged.pow(2).sum(0, true).sqrt();
        const auto want = Wq + (merged / col_norm * magnitude - Wq) * 0.5;
        EXPECT_LT(test::max_abs_diff(params[q], want), 1e-5);
        EXPECT_LT(test::max_abs_diff(params[conv], Wc + dc * 0.5), 1e-6);  // layers without DoRA as before
    }
    w.restore();
    EXPECT_TRUE(params[q].equal(Wq));
    // A magnitude of the wrong width: one sentence, nothing changed.
    t.back() = {pq + ".dora_scale", {1, Wq.size(1) + 1}, std::vector<float>(static_cast<size_t>(Wq.size(1) + 1), 1.0f)};
    io::write_safetensors(file, t);
    try {
        (void)w.apply(m->net, {call}, sd2);
        ADD_FAILURE() << "a mis-shaped DoRA magnitude was applied";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(pq + ".dora_scale of shape [1, "), std::string::npos) << e.what();
    }
    EXPECT_TRUE(params[q].equal(Wq));
    // OFT blocks that do not tile the layer's rows: refused by name.
    const std::string po = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0";
    t.back() = {po + ".oft_blocks", {1, 2, 2}, {1.0f, 0.0f, 0.0f, 1.0f}};
    io::write_safetensors(file, t);
    try {
        (void)w.apply(m->net, {call}, sd2);
        ADD_FAILURE() << "an OFT file of another layer size was applied";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(po + ".oft_blocks of shape [1, 2, 2], whose blocks do not tile the rows"), std::string::npos)
            << e.what();
    }
    EXPECT_TRUE(params[q].equal(Wq));
    // A LoHa whose pairs do not fit: the file is called damaged.
    t.pop_back();
    t[1].shape = {2, Wq.size(1)};  // hada_w1_b of rank 2 against w1_a's 3
    t[1].values.resize(static_cast<size_t>(2 * Wq.size(1)));
    io::write_safetensors(file, t);
    try {
        (void)w.apply(m->net, {call}, sd2);
        ADD_FAILURE() << "a damaged LoHa was applied";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("the file is damaged"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(params[k].equal(Wk));
    // Hostile shapes: a CP core of another rank, a 3-D LoKr factor. One sentence each, nothing changed.
    for (int variant = 0; variant < 2; ++variant) {
        std::vector<io::FloatTensor> bad;
        if (variant == 0) {
            bad = {{pc + ".hada_t1", {3, 3, kh, kw}, std::vector<float>(static_cast<size_t>(9 * kh * kw), 0.1f)},
                   {pc + ".hada_w1_a", {2, co}, std::vector<float>(static_cast<size_t>(2 * co), 0.1f)},
                   {pc + ".hada_w1_b", {2, ci}, std::vector<float>(static_cast<size_t>(2 * ci), 0.1f)},
                   {pc + ".hada_w2_a", {co, 2}, std::vector<float>(static_cast<size_t>(2 * co), 0.1f)},
                   {pc + ".hada_w2_b", {2, ci * kh * kw}, std::vector<float>(static_cast<size_t>(2 * ci * kh * kw), 0.1f)}};
        } else {
            bad = {{pk + ".lokr_w1", {2, 1, 1}, {0.1f, 0.2f}},
                   {pk + ".lokr_w2", {Wk.size(0) / 2, Wk.size(1)}, std::vector<float>(static_cast<size_t>(Wk.numel() / 2), 0.1f)}};
        }
        io::write_safetensors(file, bad);
        try {
            (void)w.apply(m->net, {call}, sd2);
            ADD_FAILURE() << "a damaged LyCORIS file was applied (variant " << variant << ")";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("the file is damaged"), std::string::npos) << e.what();
        }
        EXPECT_TRUE(params[conv].equal(Wc));
        EXPECT_TRUE(params[k].equal(Wk));
    }
    ::unlink(file.c_str());
    ::rmdir(tmpl);
}

// <lora:name:...> in a prompt through the engine: multiplier 0 leaves the reference image (the tag
// itself does not reach the text encoder) with A1111's "Lora hashes", a real multiplier changes
// the image, the next run without the tag is the reference again, and a missing LoRA or a bad
// multiplier is one sentence.
TEST(OracleNets, EngineAppliesPromptLoras) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    const auto& mdl = models.front();
    const std::string ref_file = first_t2i_reference(mdl);
    ASSERT_FALSE(ref_file.empty());
    auto ref = test::load_tensor_file(ref_file);
    char tmpl[] = "/tmp/gd-lora-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    {
        auto m = pipeline::load_sd_model(mdl.checkpoints.front());
        const auto tensors = synthetic_lora(*m).tensors;
        io::write_safetensors(dir + "/detail.safetensors", tensors, {{"ss_output_name", "detail_v2"}});
        // Its attention projection one input too wide: found after two layers it changes.
        auto wrong = tensors;
        for (auto& t : wrong)
            if (t.name.find("attn1_to_q.lora_down") != std::string::npos) {
                t.shape[1] += 1;
                t.values.resize(t.values.size() / (t.shape[1] - 1) * t.shape[1], 0.0f);
            }
        io::write_safetensors(dir + "/wrong.safetensors", wrong);
    }
    const auto mapped = io::MappedFile::open(dir + "/detail.safetensors");
    uint64_t header = 0;
    for (int i = 7; i >= 0; --i) header = header << 8 | mapped->data()[i];
    const std::string addnet = io::sha256_hex(mapped->data() + 8 + header, mapped->size() - 8 - header).substr(0, 12);

    Engine engine;
    ModelRequest mr;
    mr.path = mdl.checkpoints.front();
    mr.vocab = test::vocab_path();
    mr.lora_dirs = {"/nonexistent", dir};
    ASSERT_TRUE(engine.load_model(mr, nullptr).ok);
    GenerateRequest r = small_request(ref);
    const std::string prompt = r.prompt;
    auto run = [&](const std::string& p, std::string* text) {
        r.prompt = p;
        std::vector<GeneratedImage> out;
        const Status st = engine.txt2img(r, {}, &out);
        if (text) *text = st.ok ? out[0].infotext : st.message;
        if (!st.ok || out.empty()) return torch::Tensor();
        return torch::from_blob(out[0].image.pixels.data(), {r.height, r.width, 3}, torch::kUInt8).to(torch::kInt);
    };
    std::string text;
    const auto want = run(prompt, nullptr);
    ASSERT_TRUE(want.defined());
    const auto zero = run(prompt + "<lora:detail:0>", &text);
    ASSERT_TRUE(zero.defined()) << text;
    EXPECT_TRUE(zero.equal(want));
    EXPECT_EQ(text.rfind(prompt + "<lora:detail:0>\n", 0), 0u) << text;
    EXPECT_NE(text.find("Lora hashes: \"detail: " + addnet + "\""), std::string::npos) << text;
    // Inpainting: A1111's init keys come before the networks' hashes, sampling's after them.
    {
        GenerateRequest q = r;
        q.prompt = prompt + "<lora:detail:0>";
        q.noise_multiplier = 0.9;
        Image img{r.width, r.height, 3, std::vector<uint8_t>(static_cast<size_t>(r.width) * r.height * 3, 90)};
        Image mask{r.width, r.height, 1, std::vector<uint8_t>(static_cast<size_t>(r.width) * r.height, 0)};
        std::fill(mask.pixels.begin(), mask.pixels.begin() + static_cast<long>(mask.pixels.size() / 2), 255);
        std::vector<GeneratedImage> out;
        const Status st = engine.inpaint(q, img, mask, {}, &out);
        ASSERT_TRUE(st.ok) << st.message;
        EXPECT_NE(out[0].infotext.find("Mask blur: 4, Lora hashes: \"detail: " + addnet + "\", Noise multiplier: 0.9"),
                  std::string::npos) << out[0].infotext;
    }
    const auto strong = run(prompt + "<lora:detail:20>", nullptr);
    ASSERT_TRUE(strong.defined());
    EXPECT_GT((strong - want).abs().max().item<int>(), 8);
    // Found by its training name (ss_output_name) too; the record keeps the name the prompt used.
    EXPECT_TRUE(run(prompt + "<lora:detail_v2:20>", &text).equal(strong)) << text;
    EXPECT_NE(text.find("Lora hashes: \"detail_v2: " + addnet + "\""), std::string::npos) << text;
    const auto te_only = run(prompt + "<lora:detail:20:0>", nullptr);  // text encoder only
    ASSERT_TRUE(te_only.defined());
    EXPECT_GT((te_only - want).abs().max().item<int>(), 0);
    EXPECT_FALSE(te_only.equal(strong));
    const auto plain = run(prompt, &text);
    ASSERT_TRUE(plain.defined());
    EXPECT_TRUE(plain.equal(want));
    EXPECT_EQ(text.find("Lora hashes"), std::string::npos) << text;

    EXPECT_TRUE(!run(prompt + "<lora:nowhere:1>", &text).defined());
    EXPECT_NE(text.find("The LoRA \"nowhere\" was not found: put nowhere.safetensors in /nonexistent"), std::string::npos) << text;
    EXPECT_TRUE(!run(prompt + "<lora:detail:strong>", &text).defined());
    EXPECT_EQ(text, "\"strong\" in <lora:detail:strong> is not a number; write e.g. <lora:name:0.8>.");
    EXPECT_TRUE(!run(prompt + "<lora:wrong:1>", &text).defined());
    EXPECT_NE(text.find("it is a LoRA for another model family"), std::string::npos) << text;
    // The model is as loaded after the refused runs (the half-applied one included).
    const auto again = run(prompt, nullptr);
    ASSERT_TRUE(again.defined());
    EXPECT_TRUE(again.equal(want));
    // Hires. fix with a tag in the hires prompt only: the second pass runs with the LoRA, the next
    // run without any tag is the reference again.
    {
        GenerateRequest h = r;
        h.prompt = prompt;
        h.enable_hr = true;
        h.hr_scale = 1.5;
        h.denoising_strength = 0.5;
        auto hires = [&](const std::string& hr_prompt, std::string* info) {
            h.hr_prompt = hr_prompt;
            std::vector<GeneratedImage> out;
            const Status st = engine.txt2img(h, {}, &out);
            EXPECT_TRUE(st.ok) << st.message;
            if (out.empty()) return std::vector<uint8_t>();
            *info = out[0].infotext;
            EXPECT_EQ(out[0].image.width, h.width * 3 / 2);
            return out[0].image.pixels;
        };
        std::string plain_info, tagged_info;
        const auto plain_hr = hires("", &plain_info);
        const auto tagged_hr = hires(prompt + " <lora:detail:20>", &tagged_info);
        EXPECT_NE(plain_hr, tagged_hr);
        EXPECT_EQ(plain_info.find("Lora hashes"), std::string::npos) << plain_info;
        EXPECT_NE(tagged_info.find("Hires prompt: \"" + prompt + " <lora:detail:20>\""), std::string::npos) << tagged_info;
        EXPECT_NE(tagged_info.find("Lora hashes: \"detail: " + addnet + "\""), std::string::npos) << tagged_info;
        EXPECT_TRUE(run(prompt, nullptr).equal(want));
    }
    // Two files with one training name: that name is refused, the file names still work.
    {
        auto m = pipeline::load_sd_model(mdl.checkpoints.front());
        io::write_safetensors(dir + "/detail-copy.safetensors", synthetic_lora(*m).tensors, {{"ss_output_name", "detail_v2"}});
    }
    EXPECT_TRUE(!run(prompt + "<lora:detail_v2:1>", &text).defined());
    EXPECT_NE(text.find("\"detail_v2\" is the training name of several LoRA files"), std::string::npos) << text;
    EXPECT_TRUE(run(prompt + "<lora:detail-copy:20>", nullptr).defined());
    ::unlink((dir + "/detail.safetensors").c_str());
    ::unlink((dir + "/detail-copy.safetensors").c_str());
    ::unlink((dir + "/wrong.safetensors").c_str());
    ::rmdir(dir.c_str());
}

TEST(OracleNets, EngineCancelAndBadRequests) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    Engine engine;
    GenerateRequest r;
    r.prompt = "a red bicycle";
    r.width = r.height = 64;
    r.steps = 8;
    r.seed = 1;
    std::vector<GeneratedImage> out;
    EXPECT_EQ(engine.txt2img(r, {}, &out).code, ErrorCode::kModelNotFound);
    EXPECT_FALSE(engine.load_model({"/nonexistent/model.safetensors", "", test::vocab_path()}).ok);
    ASSERT_TRUE(engine.load_model({models.front().checkpoints.front(), "", test::vocab_path()}).ok);

    RunCallbacks cb;
    int steps_seen = 0;
    cb.progress = [&](int d, int) { steps_seen = d; };
    cb.cancelled = [&] { return steps_seen >= 3; };
    const Status st = engine.txt2img(r, cb, &out);
    EXPECT_FALSE(st.ok);
    EXPECT_EQ(st.code, ErrorCode::kCancelled);
    EXPECT_EQ(steps_seen, 3) << "cancel must stop within one step";
    EXPECT_TRUE(out.empty());

    for (auto bad : std::vector<std::function<void(GenerateRequest&)>>{
             [](GenerateRequest& q) { q.width = 100; },
             [](GenerateRequest& q) { q.steps = 0; },
             [](GenerateRequest& q) { q.sampler = "Nope"; },
             [](GenerateRequest& q) { q.schedule = "Weird"; },
             [](GenerateRequest& q) { q.prompt = "(word:1.2.3)"; },
             [](GenerateRequest& q) { q.rng = "TPU"; }}) {
        GenerateRequest q = r;
        bad(q);
        const Status s = engine.txt2img(q, {}, &out);
        EXPECT_FALSE(s.ok);
        EXPECT_EQ(s.code, ErrorCode::kInvalidRequest) << s.message;
        EXPECT_FALSE(s.message.empty());
        EXPECT_EQ(s.message.back(), '.') << s.message;
    }
    // The same prompt again reuses both encodings and gives the same image; a new prompt with the
    // same negative prompt encodes only the new prompt, and gives what an engine without a cache gives.
    r.steps = 2;
    std::vector<GeneratedImage> first, again;
    ASSERT_TRUE(engine.txt2img(r, {}, &first).ok);
    const int hits = engine.prompt_cache_hits();
    ASSERT_TRUE(engine.txt2img(r, {}, &again).ok);
    EXPECT_EQ(engine.prompt_cache_hits(), hits + 2);
    EXPECT_EQ(first[0].image.pixels, again[0].image.pixels);
    {
        GenerateRequest edited = r;
        edited.prompt = r.prompt + ", at dusk";
        ASSERT_TRUE(engine.txt2img(edited, {}, &again).ok);
        EXPECT_EQ(engine.prompt_cache_hits(), hits + 3);
        Engine fresh;
        ASSERT_TRUE(fresh.load_model({models.front().checkpoints.front(), "", test::vocab_path()}).ok);
        std::vector<GeneratedImage> expected;
        ASSERT_TRUE(fresh.txt2img(edited, {}, &expected).ok);
        EXPECT_EQ(fresh.prompt_cache_hits(), 0);
        EXPECT_EQ(again[0].image.pixels, expected[0].image.pixels);
        EXPECT_NE(again[0].image.pixels, first[0].image.pixels);
    }
    // A batch with a variation seed: every image keeps the seed, subseeds advance, infotext records both.
    r.steps = 2;
    r.batch_size = 2;
    r.subseed = 77;
    r.subseed_strength = 0.05;
    ASSERT_TRUE(engine.txt2img(r, {}, &out).ok);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[1].seed, 1);
    EXPECT_EQ(out[1].subseed, 78);
    EXPECT_NE(out[1].infotext.find("Variation seed: 78, Variation seed strength: 0.05"), std::string::npos) << out[1].infotext;
    EXPECT_EQ(engine.model_loads(), 1);
}

TEST(OracleNets, EngineInpaintKeepsTheUnmaskedImage) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    int runs = 0;
    for (const auto& mdl : test::oracle_models()) {
        SCOPED_TRACE(mdl.name);
        Engine engine;
        ASSERT_TRUE(engine.load_model({mdl.checkpoints.front(), "", test::vocab_path()}).ok);
        // A textured 96x80 image and an ellipse mask with soft edges.
        Image img{96, 80, 3, std::vector<uint8_t>(96 * 80 * 3)};
        for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>((i * 37 + i / 291) % 251);
        Image mask{96, 80, 1, std::vector<uint8_t>(96 * 80, 0)};
        for (int y = 0; y < 80; ++y)
            for (int x = 0; x < 96; ++x) {
                const double d = std::hypot((x - 48) / 24.0, (y - 40) / 16.0);
                mask.pixels[static_cast<size_t>(y) * 96 + x] = static_cast<uint8_t>(d < 1 ? 255 : d < 1.2 ? 128 : 0);
            }
        for (bool full_res : {false, true}) {
            for (int content : {0, 1, 2, 3}) {
                SCOPED_TRACE("full_res " + std::to_string(full_res) + " content " + std::to_string(content));
                GenerateRequest r;
                r.prompt = "ballast, pebbles";
                r.steps = 4;
                r.seed = 11;
                r.width = full_res ? 64 : 96;
                r.height = full_res ? 64 : 80;
                r.inpaint_full_res = full_res;
                r.masked_content = content;
                std::vector<GeneratedImage> out;
                Image overlay_mask;
                std::vector<int> box;
                const Status st = engine.inpaint(r, img, mask, {}, &out, &overlay_mask, &box);
                ASSERT_TRUE(st.ok) << st.message;
                ASSERT_EQ(out.size(), 1u);
                const Image& res = out[0].image;
                ASSERT_EQ(res.width, 96);
                ASSERT_EQ(res.height, 80);
                ASSERT_EQ(overlay_mask.width, full_res ? 96 : 96);
                int changed_inside = 0, changed_outside = 0;
                for (size_t p = 0; p < mask.pixels.size(); ++p) {
                    bool differs = false;
                    for (int c = 0; c < 3; ++c) differs = differs || res.pixels[p * 3 + c] != img.pixels[p * 3 + c];
                    if (overlay_mask.pixels[p] == 0) changed_outside += differs;
                    if (mask.pixels[p] == 255) changed_inside += differs;
                }
                EXPECT_EQ(changed_outside, 0) << "pixels outside the blurred mask must stay the original";
                EXPECT_GT(changed_inside, 100);
                EXPECT_EQ(box.empty(), !full_res);
                EXPECT_NE(out[0].infotext.find("Mask blur: 4"), std::string::npos);
            }
        }
        // "Inpaint not masked": the ellipse's inside kept, the outside repainted; A1111's record
        // (mask mode before mask blur; no blur, no key), pasted back.
        {
            GenerateRequest r;
            r.prompt = "ballast, pebbles";
            r.steps = 4;
            r.seed = 11;
            r.width = 96;
            r.height = 80;
            r.inpaint_not_masked = true;
            std::vector<GeneratedImage> out;
            ASSERT_TRUE(engine.inpaint(r, img, mask, {}, &out).ok);
            int changed_inside = 0, changed_outside = 0;
            for (int y = 0; y < 80; ++y)
                for (int x = 0; x < 96; ++x) {
                    const size_t p = static_cast<size_t>(y) * 96 + x;
                    bool differs = false;
                    for (int c = 0; c < 3; ++c) differs = differs || out[0].image.pixels[p * 3 + c] != img.pixels[p * 3 + c];
                    const double d = std::hypot((x - 48) / 24.0, (y - 40) / 16.0);
                    if (d < 0.3) changed_inside += differs;  // beyond the blur's reach (10 pixels) inside
                    if (d > 1.6) changed_outside += differs;
                }
            EXPECT_EQ(changed_inside, 0);
            EXPECT_GT(changed_outside, 100);
            EXPECT_NE(out[0].infotext.find("Mask mode: Inpaint not masked, Mask blur: 4"), std::string::npos) << out[0].infotext;
            GenerateRequest pasted;
            EXPECT_TRUE(apply_parameters(out[0].infotext, &pasted).empty());
            EXPECT_TRUE(pasted.inpaint_not_masked);
            r.mask_blur = 0;
            ASSERT_TRUE(engine.inpaint(r, img, mask, {}, &out).ok);
            EXPECT_EQ(out[0].infotext.find("Mask blur"), std::string::npos) << out[0].infotext;
        }
        Image empty{96, 80, 1, std::vector<uint8_t>(96 * 80, 0)};
        GenerateRequest r;
        r.width = 96;
        r.height = 80;
        std::vector<GeneratedImage> out;
        const Status st = engine.inpaint(r, img, empty, {}, &out);
        EXPECT_EQ(st.code, ErrorCode::kInvalidRequest);
        EXPECT_NE(st.message.find("mask is empty"), std::string::npos);
        ++runs;
    }
    EXPECT_GT(runs, 0);
}

TEST(Engine, DialogListsMatchTheEngine) {
    std::vector<std::string> names;
    for (const auto& s : sampling::sampler_table()) names.push_back(s.name);
    EXPECT_EQ(names, sampler_names());
    for (const auto& n : schedule_names()) EXPECT_TRUE(sampling::parse_schedule(n).has_value()) << n;
    // The parameters text's resolved "Automatic" is the engine's.
    for (const auto& s : sampling::sampler_table()) {
        const std::string own = automatic_schedule(s.name);
        EXPECT_EQ(own.empty() ? std::string("Uniform") : own, s.timesteps ? std::string("Uniform") : std::string(s.automatic)) << s.name;
    }
}

TEST(OracleNets, EngineSdUpscale) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    Engine engine;
    ASSERT_TRUE(engine.load_model({models.front().checkpoints.front(), "", test::vocab_path()}).ok);
    Image img{96, 64, 3, std::vector<uint8_t>(96 * 64 * 3)};
    for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>((i * 13) % 241);
    GenerateRequest r;
    r.prompt = "detailed";
    r.steps = 2;
    r.seed = 9;
    r.width = r.height = 64;
    r.denoising_strength = 0.3;
    int done = 0, total = 0;
    RunCallbacks cb;
    cb.progress = [&](int d, int t) { done = d; total = t; };
    std::vector<GeneratedImage> out;
    const Status st = engine.sd_upscale(r, img, "Lanczos", 2.0, 16, cb, &out);
    ASSERT_TRUE(st.ok) << st.message;
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].image.width, 192);
    EXPECT_EQ(out[0].image.height, 128);
    EXPECT_EQ(done, total);
    EXPECT_EQ(total, 12);  // 192x128 in 64 px tiles, 16 px overlap: ceil(176/48) x ceil(112/48) = 4 x 3
    EXPECT_NE(out[0].infotext.find("SD upscale overlap: 16, SD upscale upscaler: Lanczos"), std::string::npos) << out[0].infotext;
    EXPECT_EQ(engine.sd_upscale(r, img, "Lanczos", 2.0, 64, {}, &out).code, ErrorCode::kInvalidRequest);
}

// Poor man's outpainting: the engine's run equals the script's tiles inpainted one by one through
// the public inpaint call (seed + 1 per tile, twice the blur, the latent mask) and put back; the
// old image's middle comes back unchanged; the first tile's text; the checks.
TEST(OracleNets, EngineOutpaint) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    Engine engine;
    ASSERT_TRUE(engine.load_model({models.front().checkpoints.front(), "", test::vocab_path()}).ok);
    Image img{96, 64, 3, std::vector<uint8_t>(96 * 64 * 3)};
    for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>((i * 13) % 241);
    GenerateRequest r;
    r.prompt = "a wide landscape";
    r.steps = 2;
    r.seed = 9;
    r.subseed = 4;
    r.width = r.height = 64;
    r.denoising_strength = 0.8;
    r.masked_content = 0;
    imaging::OutpaintSettings os;
    os.pixels = 32;
    os.mask_blur = 4;
    int done = 0, total = 0;
    RunCallbacks cb;
    cb.progress = [&](int d, int t) { done = d; total = t; };
    std::vector<GeneratedImage> out;
    const Status st = engine.outpaint(r, img, os, cb, &out);
    ASSERT_TRUE(st.ok) << st.message;
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[0].image.width, 192);  // 96 + 2 x 32 rounded up to 64s
    ASSERT_EQ(out[0].image.height, 128);
    os.tile_w = os.tile_h = 64;
    auto plan = imaging::plan_outpaint(img, os);
    EXPECT_EQ(total, static_cast<int>(plan.work.size()));
    EXPECT_EQ(done, total);
    std::vector<Image> tiles;
    for (size_t i = 0; i < plan.work.size(); ++i) {
        GenerateRequest t = r;
        t.seed = r.seed + static_cast<int64_t>(i);
        t.mask_blur = 8;
        std::vector<GeneratedImage> one;
        const Status ts = engine.inpaint(t, plan.work[i].image, plan.work[i].mask, {}, &one, nullptr, nullptr, plan.work[i].latent_mask);
        ASSERT_TRUE(ts.ok) << ts.message;
        tiles.push_back(one.at(0).image);
    }
    EXPECT_EQ(out[0].image.pixels, imaging::finish_outpaint(plan, tiles).pixels);
    // The middle of the old image (beyond the reach of the blur's 41-tap kernel) is the image itself.
    ASSERT_EQ(plan.left, 48);
    ASSERT_EQ(plan.up, 32);
    for (int y = 32 + 8 + 21; y <= 128 - 32 - 8 - 21; ++y)
        for (int x = 48 + 8 + 21; x <= 192 - 48 - 8 - 21; ++x)
            for (int c = 0; c < 3; ++c)
                ASSERT_EQ(out[0].image.pixels[(static_cast<size_t>(y) * 192 + x) * 3 + c],
                          img.pixels[(static_cast<size_t>(y - plan.up) * 96 + (x - plan.left)) * 3 + c]) << x << "," << y;
    const std::string& info = out[0].infotext;
    EXPECT_NE(info.find("Seed: 9, Size: 64x64"), std::string::npos) << info;
    EXPECT_NE(info.find("Denoising strength: 0.8, Mask blur: 8, Masked content: fill"), std::string::npos) << info;
    // Without the latent mask the tiles differ ("fill" and the blend follow the blurred mask).
    GenerateRequest t = r;
    t.mask_blur = 8;
    std::vector<GeneratedImage> blurred;
    ASSERT_TRUE(engine.inpaint(t, plan.work[0].image, plan.work[0].mask, {}, &blurred).ok);
    EXPECT_NE(blurred.at(0).image.pixels, tiles[0].pixels);
    // With a variation strength and subseed -1 every tile's process_images draws its own subseed:
    // holding the first tile's for all of them gives another image.
    GenerateRequest varied = r;
    varied.subseed = -1;
    varied.subseed_strength = 0.8;
    std::vector<GeneratedImage> drawn, held_out;
    ASSERT_TRUE(engine.outpaint(varied, img, os, {}, &drawn).ok);
    GenerateRequest held = varied;
    held.subseed = drawn[0].subseed;
    ASSERT_TRUE(engine.outpaint(held, img, os, {}, &held_out).ok);
    EXPECT_EQ(held_out[0].infotext, drawn[0].infotext);  // the first tile's text either way
    EXPECT_NE(held_out[0].image.pixels, drawn[0].image.pixels);

    imaging::OutpaintSettings none = os;
    none.sides = {false, false, false, false};
    const Status bad = engine.outpaint(r, img, none, {}, &out);
    EXPECT_EQ(bad.code, ErrorCode::kInvalidRequest);
    EXPECT_NE(bad.message.find("at least one outpainting direction"), std::string::npos) << bad.message;
    imaging::OutpaintSettings wide = os;
    wide.pixels = 64;
    EXPECT_NE(engine.outpaint(r, img, wide, {}, &out).message.find("smaller than the width and height of the tiles"), std::string::npos);
}

// Outpainting mk2: the engine's run equals its sides done one by one through the public inpaint call
// (the canvas filled with matched noise, the strip at the new edge inpainted over it with a latent
// mask, put back and cut); a batch's images take the batch's seeds; the first run's text.
TEST(OracleNets, EngineOutpaintMk2) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    Engine engine;
    ASSERT_TRUE(engine.load_model({models.front().checkpoints.front(), "", test::vocab_path()}).ok);
    Image img{96, 64, 3, std::vector<uint8_t>(96 * 64 * 3)};
    for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>((i * 13) % 241);
    GenerateRequest r;
    r.prompt = "a wide landscape";
    r.steps = 2;
    r.seed = 9;
    r.subseed = 4;
    r.width = r.height = 64;
    r.batch_size = 2;
    r.denoising_strength = 0.8;
    imaging::OutpaintMk2Settings os;
    os.pixels = 32;
    os.mask_blur = 4;
    int done = 0, total = 0;
    RunCallbacks cb;
    cb.progress = [&](int d, int t) { done = d; total = t; };
    std::vector<GeneratedImage> out;
    const Status st = engine.outpaint_mk2(r, img, os, cb, &out);
    ASSERT_TRUE(st.ok) << st.message;
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(total, 8);  // four sides, two images
    EXPECT_EQ(done, total);
    const auto steps = imaging::plan_outpaint_mk2(96, 64, os, 64, 64);
    ASSERT_EQ(steps.size(), 4u);
    for (int n = 0; n < 2; ++n) {
        SCOPED_TRACE(n);
        Image cur = img;
        for (const auto& step : steps) {
            auto [canvas, mask] = imaging::mk2_canvas(cur, step);
            const Image noised = pipeline::matched_noise(canvas, mask, 1.0, 0.05);
            auto [strip_mask, latent] = imaging::mk2_strip_masks(mask, step);
            GenerateRequest t = r;
            t.batch_size = 1;
            t.seed = 9 + n;
            t.subseed = 4 + n;
            t.width = step.proc_w;
            t.height = step.proc_h;
            t.mask_blur = 16;
            t.masked_content = 1;
            std::vector<GeneratedImage> one;
            const Status ts = engine.inpaint(t, imaging::crop(noised, {step.crop[0], step.crop[1], step.crop[2], step.crop[3]}), strip_mask, {},
                                             &one, nullptr, nullptr, latent);
            ASSERT_TRUE(ts.ok) << ts.message;
            cur = imaging::mk2_finish(noised, one.at(0).image, step);
        }
        ASSERT_EQ(out[static_cast<size_t>(n)].image.width, 192);
        ASSERT_EQ(out[static_cast<size_t>(n)].image.height, 128);
        EXPECT_EQ(out[static_cast<size_t>(n)].image.pixels, cur.pixels);
        EXPECT_EQ(out[static_cast<size_t>(n)].seed, 9 + n);
    }
    EXPECT_NE(out[0].image.pixels, out[1].image.pixels);
    const std::string& info = out[1].infotext;  // both carry the first run's text
    EXPECT_EQ(info, out[0].infotext);
    EXPECT_NE(info.find("Seed: 9, Size: 64x64"), std::string::npos) << info;
    EXPECT_NE(info.find("Denoising strength: 0.8, Mask blur: 16, Version"), std::string::npos) << info;

    // Batch count: A1111's script runs its loop again with the same settings, so a fixed seed gives
    // the same images again, under the first run's text.
    imaging::OutpaintMk2Settings up = os;
    up.sides.left = up.sides.right = up.sides.down = false;
    GenerateRequest twice = r;
    twice.batch_size = 1;
    twice.batch_count = 2;
    std::vector<GeneratedImage> repeated;
    ASSERT_TRUE(engine.outpaint_mk2(twice, img, up, {}, &repeated).ok);
    ASSERT_EQ(repeated.size(), 2u);
    EXPECT_EQ(repeated[0].image.pixels, repeated[1].image.pixels);
    EXPECT_EQ(repeated[1].seed, 9);
    EXPECT_EQ(repeated[1].infotext, repeated[0].infotext);
    // Seed -1: each process_images call (every side of every batch) draws its own seed; the text
    // and the first image's seed are the first call's.
    imaging::OutpaintMk2Settings two = up;
    two.sides.down = true;
    GenerateRequest drawn = twice;
    drawn.seed = -1;
    std::vector<GeneratedImage> fresh;
    ASSERT_TRUE(engine.outpaint_mk2(drawn, img, two, {}, &fresh).ok);
    ASSERT_EQ(fresh.size(), 2u);
    EXPECT_NE(fresh[0].seed, fresh[1].seed);
    EXPECT_NE(fresh[0].image.pixels, fresh[1].image.pixels);
    EXPECT_NE(fresh[0].infotext.find("Seed: " + std::to_string(fresh[0].seed) + ","), std::string::npos) << fresh[0].infotext;
    EXPECT_EQ(fresh[1].infotext, fresh[0].infotext);
    // The second side drew another seed: the first side's seed held for both sides gives another image.
    GenerateRequest held = drawn;
    held.seed = fresh[0].seed;
    held.batch_count = 1;
    std::vector<GeneratedImage> same_seed;
    ASSERT_TRUE(engine.outpaint_mk2(held, img, two, {}, &same_seed).ok);
    ASSERT_EQ(same_seed.size(), 1u);
    EXPECT_NE(same_seed[0].image.pixels, fresh[0].image.pixels);
    twice.batch_count = 0;
    EXPECT_EQ(engine.outpaint_mk2(twice, img, up, {}, &repeated).code, ErrorCode::kInvalidRequest);

    imaging::OutpaintMk2Settings odd = os;
    odd.sides.up = odd.sides.down = false;
    Image narrow{100, 64, 3, std::vector<uint8_t>(100 * 64 * 3, 90)};
    odd.pixels = 32;
    r.width = 512;
    const Status bad = engine.outpaint_mk2(r, narrow, odd, {}, &out);
    EXPECT_EQ(bad.code, ErrorCode::kInvalidRequest);
    EXPECT_NE(bad.message.find("not a multiple of 8"), std::string::npos) << bad.message;
}

// A1111 resizes its init image to the tab's size ("Just resize", Lanczos) before img2img; with
// resize_init_image the engine does the same (the scripts ask for it when a line or an axis sets a
// size): the run equals the one on the image resized beforehand, at any init size. Without it an
// init image that is no multiple of 8 is refused.
TEST(OracleNets, Img2ImgResizesItsInitImageWhenAsked) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    Engine engine;
    ASSERT_TRUE(engine.load_model({models.front().checkpoints.front(), "", test::vocab_path()}).ok);
    Image img{70, 50, 3, std::vector<uint8_t>(70 * 50 * 3)};
    for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>((i * 7) % 251);
    GenerateRequest r;
    r.prompt = "gravel";
    r.steps = 3;
    r.seed = 6;
    r.subseed = 1;
    r.denoising_strength = 0.5;
    r.width = 96;
    r.height = 64;
    std::vector<GeneratedImage> plain, resized;
    Status st = engine.img2img(r, img, {}, &plain);
    EXPECT_EQ(st.code, ErrorCode::kInvalidRequest);
    EXPECT_NE(st.message.find("multiples of 8"), std::string::npos) << st.message;
    GenerateRequest asked = r;
    asked.resize_init_image = true;
    st = engine.img2img(asked, img, {}, &resized);
    ASSERT_TRUE(st.ok) << st.message;
    ASSERT_EQ(resized[0].image.width, 96);
    ASSERT_EQ(resized[0].image.height, 64);
    st = engine.img2img(r, imaging::resize_image(0, img, 96, 64), {}, &plain);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_EQ(resized[0].image.pixels, plain[0].image.pixels);
    EXPECT_EQ(resized[0].infotext, plain[0].infotext);
    EXPECT_NE(resized[0].infotext.find("Size: 96x64"), std::string::npos) << resized[0].infotext;
    // A1111's other resize modes: Crop and resize, Resize and fill (its resize_image on the picture).
    for (int mode : {1, 2}) {
        SCOPED_TRACE(mode);
        GenerateRequest m = asked;
        m.resize_mode = mode;
        ASSERT_TRUE(engine.img2img(m, img, {}, &resized).ok);
        ASSERT_TRUE(engine.img2img(r, imaging::resize_image(mode, img, 96, 64), {}, &plain).ok);
        EXPECT_EQ(resized[0].image.pixels, plain[0].image.pixels);
    }
    // A1111's "Upscaler for img2img": its resize() through the upscaler, then Lanczos to the size.
    pipeline::Upscalers ups;
    auto through = [&](const Image& im, int w, int h) { return pipeline::resize_with_upscaler(ups, im, "Nearest", w, h); };
    for (int mode : {0, 1}) {
        SCOPED_TRACE(mode);
        GenerateRequest m = asked;
        m.resize_mode = mode;
        m.img2img_upscaler = "Nearest";
        ASSERT_TRUE(engine.img2img(m, img, {}, &resized).ok);
        ASSERT_TRUE(engine.img2img(r, imaging::resize_image(mode, img, 96, 64, through), {}, &plain).ok);
        EXPECT_EQ(resized[0].image.pixels, plain[0].image.pixels);
        std::vector<GeneratedImage> lanczos;
        m.img2img_upscaler = "None";
        ASSERT_TRUE(engine.img2img(m, img, {}, &lanczos).ok);
        EXPECT_NE(lanczos[0].image.pixels, resized[0].image.pixels);
    }
    GenerateRequest unknown = asked;
    unknown.img2img_upscaler = "4x-Nowhere";
    const Status missing = engine.img2img(unknown, img, {}, &resized);
    EXPECT_EQ(missing.code, ErrorCode::kModelNotFound);
    EXPECT_NE(missing.message.find("The upscaler \"4x-Nowhere\" was not found"), std::string::npos) << missing.message;
    // Just resize (latent upscale): the picture at its own size (a multiple of 8), its latent enlarged.
    const Image even = imaging::resize_image(0, img, 64, 48);
    GenerateRequest latent = asked;
    latent.resize_mode = 3;
    EXPECT_EQ(engine.img2img(latent, img, {}, &resized).code, ErrorCode::kInvalidRequest);  // 70 x 50 cannot be encoded
    ASSERT_TRUE(engine.img2img(latent, even, {}, &resized).ok);
    ASSERT_EQ(resized[0].image.width, 96);
    ASSERT_EQ(resized[0].image.height, 64);
    std::vector<GeneratedImage> again, by_picture;
    ASSERT_TRUE(engine.img2img(latent, even, {}, &again).ok);
    EXPECT_EQ(again[0].image.pixels, resized[0].image.pixels);
    GenerateRequest picture = asked;
    ASSERT_TRUE(engine.img2img(picture, even, {}, &by_picture).ok);
    EXPECT_NE(by_picture[0].image.pixels, resized[0].image.pixels);
    latent.resize_mode = 4;
    const Status bad = engine.img2img(latent, even, {}, &resized);
    EXPECT_EQ(bad.code, ErrorCode::kInvalidRequest);
    EXPECT_NE(bad.message.find("The resize mode is 0 (Just resize)"), std::string::npos) << bad.message;
    // An inpainting model is conditioned on the picture: the latent upscale is refused for it.
    for (const auto& m : models) {
        if (m.name.find("inpaint") == std::string::npos) continue;
        Engine inpainting;
        ASSERT_TRUE(inpainting.load_model({m.checkpoints.front(), "", test::vocab_path()}).ok);
        latent.resize_mode = 3;
        const Status refused = inpainting.img2img(latent, even, {}, &resized);
        EXPECT_EQ(refused.code, ErrorCode::kInvalidRequest);
        EXPECT_NE(refused.message.find("needs a plain model"), std::string::npos) << refused.message;
    }
}

// A1111's img2img noise settings: "Noise multiplier" scales the starting noise and "Extra noise" adds
// it once more (x = init + n*m*sigma0 + n*m*extra), so m = 0.5 starts where m = 0.25 with extra =
// sigma0 does; recorded, pasted back, range-checked; the hires pass takes extra noise, not the multiplier.
TEST(OracleNets, EngineImg2ImgNoiseSettings) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    const auto& mdl = models.front();
    Engine engine;
    ASSERT_TRUE(engine.load_model({mdl.checkpoints.front(), "", test::vocab_path()}).ok);
    Image img{64, 64, 3, std::vector<uint8_t>(64 * 64 * 3)};
    for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>((i * 13) % 241);
    GenerateRequest r;
    r.prompt = "pebbles";
    r.sampler = "Euler";  // no noise after the first draw: the start alone sets the result
    r.steps = 10;
    r.seed = 5;
    r.rng = "CPU";
    r.width = r.height = 64;
    r.denoising_strength = 0.2;
    RunCallbacks cb;
    cb.keep_latents = true;
    auto run = [&](const GenerateRequest& q, std::string* info) {
        std::vector<GeneratedImage> out;
        const Status st = engine.img2img(q, img, cb, &out);
        *info = st.ok ? out[0].infotext : st.message;
        return st.ok ? torch::from_blob(out[0].latent.data(), {static_cast<int64_t>(out[0].latent.size())}).clone() : torch::Tensor();
    };
    // sigma0: the first sigma of the trimmed schedule.
    const auto model = pipeline::load_sd_model(mdl.checkpoints.front());
    const auto s = pipeline::sampling_settings(r);
    const auto st = pipeline::img2img_steps(r.steps, r.denoising_strength, false);
    const double sigma0 = pipeline::sampler_sigmas(s, model->latent_model().schedule, st.steps)[st.steps - st.t_enc - 1].item<double>();
    ASSERT_LT(sigma0, 1.0);
    std::string info;
    const auto plain = run(r, &info);
    ASSERT_TRUE(plain.defined()) << info;
    EXPECT_EQ(info.find("Noise multiplier"), std::string::npos) << info;
    // The VAE's posterior sample follows the seed: the same request is the same image again.
    EXPECT_TRUE(torch::equal(run(r, &info), plain));
    // A1111's img2img starts from init + noise * sigma0 whatever the SGM noise multiplier says (only
    // txt2img scales by sqrt(1 + sigma0^2)), and does not record it.
    GenerateRequest sgm = r;
    sgm.sgm_noise_multiplier = true;
    EXPECT_TRUE(torch::equal(run(sgm, &info), plain));
    EXPECT_EQ(info.find("SGM noise multiplier"), std::string::npos) << info;
    GenerateRequest a = r, b = r;
    a.noise_multiplier = 0.5;
    b.noise_multiplier = 0.25;
    b.extra_noise = sigma0;
    const auto la = run(a, &info);
    ASSERT_TRUE(la.defined()) << info;
    EXPECT_NE(info.find("Noise multiplier: 0.5"), std::string::npos) << info;
    GenerateRequest back;
    EXPECT_TRUE(apply_parameters(info, &back).empty());
    EXPECT_EQ(back.noise_multiplier, 0.5);
    const auto lb = run(b, &info);
    ASSERT_TRUE(lb.defined()) << info;
    EXPECT_NE(info.find("Noise multiplier: 0.25, Extra noise: "), std::string::npos) << info;
    EXPECT_TRUE(apply_parameters(info, &back).empty());
    EXPECT_NEAR(back.extra_noise, sigma0, 1e-12);
    EXPECT_FALSE(torch::allclose(la, plain, 1e-3, 1e-3));
    EXPECT_TRUE(torch::allclose(la, lb, 1e-5, 1e-5)) << (la - lb).abs().max().item<float>();
    b.extra_noise = 0;
    EXPECT_FALSE(torch::allclose(run(b, &info), la, 1e-3, 1e-3));
    // A timestep sampler takes them too.
    GenerateRequest d = r;
    d.sampler = "DDIM";
    const auto ddim = run(d, &info);
    d.extra_noise = 0.5;
    const auto ddim_extra = run(d, &info);
    ASSERT_TRUE(ddim_extra.defined()) << info;
    EXPECT_FALSE(torch::allclose(ddim, ddim_extra, 1e-3, 1e-3));
    // Out of A1111's ranges: one sentence.
    a.noise_multiplier = 2;
    EXPECT_FALSE(run(a, &info).defined());
    EXPECT_EQ(info, "The noise multiplier must be between 0 and 1.5 and the extra noise between 0 and 1.");
    // Hires. fix: the extra noise reaches the second pass, the multiplier does not.
    GenerateRequest h = r;
    h.enable_hr = true;
    h.hr_scale = 1.5;
    h.denoising_strength = 0.5;
    auto hires = [&](const GenerateRequest& q, std::string* text) {
        std::vector<GeneratedImage> out;
        const Status st2 = engine.txt2img(q, {}, &out);
        *text = st2.ok ? out[0].infotext : st2.message;
        return st2.ok ? out[0].image.pixels : std::vector<uint8_t>();
    };
    std::string t0, t1, t2;
    const auto h0 = hires(h, &t0);
    h.noise_multiplier = 0.5;
    EXPECT_EQ(hires(h, &t1), h0);
    EXPECT_EQ(t1.find("Noise multiplier"), std::string::npos) << t1;
    h.extra_noise = 0.3;
    EXPECT_NE(hires(h, &t2), h0);
    EXPECT_NE(t2.find("Extra noise: 0.3"), std::string::npos) << t2;
    // An image upscaler's second pass encodes with seeded noise too: repeatable.
    h.hr_upscaler = "Lanczos";
    EXPECT_EQ(hires(h, &t1), hires(h, &t2));
}

// Under Hypertile's VAE setting a large image (above our tiling threshold) is decoded whole, as A1111
// decodes it: one VAE draw per decode, and the same pixels as with tiling switched off.
TEST(OracleNets, HypertileVaeDecodesTheWholeImage) {
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    auto m = pipeline::load_sd_model(models.front().checkpoints.front());
    const int64_t side = 136;  // a 1088 x 1088 image: past the 1024 x 1024 where tiling starts
    ASSERT_TRUE(m->vae_tiling.applies(side, side));
    torch::manual_seed(3);
    const auto z = torch::randn({1, m->cfg.unet.out_channels, side, side}) * 0.5;
    models::HypertileSettings hs;
    hs.vae = true;
    models::Hypertile whole_ht(hs), tiled_off_ht(hs);
    whole_ht.start(7, static_cast<int>(side * 8), static_cast<int>(side * 8));
    tiled_off_ht.start(7, static_cast<int>(side * 8), static_cast<int>(side * 8));
    m->set_hypertile(&whole_ht);
    const auto a = m->decode_first_stage(z);
    m->vae_tiling.enabled = false;
    m->set_hypertile(&tiled_off_ht);
    const auto b = m->decode_first_stage(z);
    m->set_hypertile(nullptr);
    m->vae_tiling.enabled = true;
    int vae_draws = 0;
    for (const auto& d : whole_ht.draws()) vae_draws += d[0] == -1;
    EXPECT_EQ(vae_draws, 1);
    EXPECT_EQ(whole_ht.draws(), tiled_off_ht.draws());
    EXPECT_TRUE(torch::equal(a, b));
}

// "Large images whole": above 1024 x 1024 the engine's VAE decodes (and encodes) in one pass as
// A1111 does: its image equals the pipeline's with tiling off, and the default (tiled) run differs
// from it only slightly (the tiles' own normalisation statistics).
TEST(OracleNets, LargeImagesWholeFollowTheSetting) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    Engine engine;
    ASSERT_TRUE(engine.load_model({models.front().checkpoints.front(), "", test::vocab_path()}).ok);
    GenerateRequest r;
    r.prompt = "a wide field";
    r.steps = 1;
    r.seed = 4;
    r.subseed = 0;
    r.sampler = "Euler";
    r.width = r.height = 1032;  // past the 1024 x 1024 where tiling starts
    auto run = [&](const GenerateRequest& q) {
        std::vector<GeneratedImage> out;
        const Status st = engine.txt2img(q, {}, &out);
        EXPECT_TRUE(st.ok) << st.message;
        return st.ok ? out[0].image.pixels : std::vector<uint8_t>();
    };
    const auto tiled = run(r);
    GenerateRequest whole = r;
    whole.vae_whole_image = true;
    const auto one_pass = run(whole);
    ASSERT_EQ(one_pass.size(), 1032u * 1032 * 3);
    auto m = pipeline::load_sd_model(models.front().checkpoints.front());
    text::ClipTokenizer tok(test::vocab_path());
    m->vae_tiling.enabled = false;
    const torch::Tensor px = pipeline::generate_txt2img(*m, tok, r, {}).images[0].contiguous();
    EXPECT_EQ(one_pass, std::vector<uint8_t>(px.data_ptr<uint8_t>(), px.data_ptr<uint8_t>() + px.numel()));
    size_t differ = 0, far = 0;
    for (size_t i = 0; i < tiled.size(); ++i) {
        differ += tiled[i] != one_pass[i];
        far += std::abs(static_cast<int>(tiled[i]) - one_pass[i]) > 24;
    }
    EXPECT_GT(differ, 0u);
    EXPECT_LT(far, tiled.size() / 100);
}

// A1111's "Enable quantization in K samplers": a k-diffusion sampler's image changes (whole
// timesteps), repeatably and without a trace in the text; DDIM, which samples at the table's own
// timesteps, does not change.
TEST(OracleNets, QuantizationInKSamplers) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    Engine engine;
    ASSERT_TRUE(engine.load_model({models.front().checkpoints.front(), "", test::vocab_path()}).ok);
    GenerateRequest r;
    r.prompt = "a quiet harbour";
    r.steps = 6;
    r.seed = 8;
    r.width = r.height = 64;
    r.sampler = "DPM++ 2M";
    auto run = [&](const GenerateRequest& q) {
        std::vector<GeneratedImage> out;
        const Status st = engine.txt2img(q, {}, &out);
        EXPECT_TRUE(st.ok) << st.message;
        return st.ok ? out[0] : GeneratedImage{};
    };
    const GeneratedImage plain = run(r);
    GenerateRequest q = r;
    q.enable_quantization = true;
    const GeneratedImage quantized = run(q);
    EXPECT_NE(quantized.image.pixels, plain.image.pixels);
    EXPECT_EQ(run(q).image.pixels, quantized.image.pixels);
    EXPECT_EQ(quantized.infotext, plain.infotext);
    r.sampler = q.sampler = "DDIM";
    EXPECT_EQ(run(q).image.pixels, run(r).image.pixels);
}

// A1111 flattens a transparent init image onto its "Background color for img2img" before img2img,
// inpainting and SD upscale: an RGBA image gives exactly the run of its flattened RGB, the colour
// setting changes what shows through, a bad colour is one sentence.
TEST(OracleNets, TransparentInitImagesAreFlattened) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    Engine engine;
    ASSERT_TRUE(engine.load_model({models.front().checkpoints.front(), "", test::vocab_path()}).ok);
    Image rgba{64, 64, 4, std::vector<uint8_t>(64 * 64 * 4)};
    for (int y = 0; y < 64; ++y)
        for (int x = 0; x < 64; ++x) {
            uint8_t* p = &rgba.pixels[(static_cast<size_t>(y) * 64 + x) * 4];
            p[0] = static_cast<uint8_t>(x * 4);
            p[1] = static_cast<uint8_t>(y * 4);
            p[2] = 0;  // hidden colour under the transparent half: black
            p[3] = static_cast<uint8_t>(x < 32 ? 255 : (x - 32) * 4);
        }
    GenerateRequest r;
    r.prompt = "glass";
    r.steps = 3;
    r.seed = 4;
    r.width = r.height = 64;
    r.denoising_strength = 0.4;
    auto pixels_of = [](const std::vector<GeneratedImage>& out) { return out.empty() ? std::vector<uint8_t>() : out[0].image.pixels; };
    for (const char* bg : {"#ffffff", "#204080"}) {
        SCOPED_TRACE(bg);
        r.img2img_background_color = bg;
        const Image flat = imaging::flatten(rgba, imaging::parse_background_color(bg));
        std::vector<GeneratedImage> a, b;
        ASSERT_TRUE(engine.img2img(r, rgba, {}, &a).ok);
        ASSERT_TRUE(engine.img2img(r, flat, {}, &b).ok);
        EXPECT_EQ(pixels_of(a), pixels_of(b));
        Image mask{64, 64, 1, std::vector<uint8_t>(64 * 64, 0)};
        for (size_t i = 0; i < mask.pixels.size(); ++i) mask.pixels[i] = (i % 64) > 20 && (i % 64) < 50 ? 255 : 0;
        ASSERT_TRUE(engine.inpaint(r, rgba, mask, {}, &a).ok);
        ASSERT_TRUE(engine.inpaint(r, flat, mask, {}, &b).ok);
        EXPECT_EQ(pixels_of(a), pixels_of(b));
        ASSERT_TRUE(engine.sd_upscale(r, rgba, "Lanczos", 1.0, 16, {}, &a).ok);
        ASSERT_TRUE(engine.sd_upscale(r, flat, "Lanczos", 1.0, 16, {}, &b).ok);
        EXPECT_EQ(pixels_of(a), pixels_of(b));
    }
    // What shows through differs with the colour.
    std::vector<GeneratedImage> white, blue;
    r.img2img_background_color = "#ffffff";
    ASSERT_TRUE(engine.img2img(r, rgba, {}, &white).ok);
    r.img2img_background_color = "#204080";
    ASSERT_TRUE(engine.img2img(r, rgba, {}, &blue).ok);
    EXPECT_NE(pixels_of(white), pixels_of(blue));
    r.img2img_background_color = "blue";
    const Status st = engine.img2img(r, rgba, {}, &blue);
    EXPECT_EQ(st.code, ErrorCode::kInvalidRequest);
    EXPECT_NE(st.message.find("#rrggbb"), std::string::npos) << st.message;
}

// A1111's img2img colour correction: every image of a batch matched to the init image's colours
// after decoding (not recorded in the text), to a script's reference when one is given (Loopback's
// first image), and for inpainting to the prepared (filled) image before the result goes back under
// the overlay. Each run equals the uncorrected one corrected by the public pieces.
TEST(OracleNets, ColorCorrectionFollowsA1111) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    const auto& mdl = models.front();
    Engine engine;
    ASSERT_TRUE(engine.load_model({mdl.checkpoints.front(), "", test::vocab_path()}).ok);
    Image img{64, 64, 3, std::vector<uint8_t>(64 * 64 * 3)};
    for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>((i * 29 + i / 197) % 233);
    GenerateRequest r;
    r.prompt = "pebbles";
    r.steps = 4;
    r.seed = 21;
    r.width = r.height = 64;
    r.batch_size = 2;
    r.denoising_strength = 0.5;
    std::vector<GeneratedImage> plain, fixed, referenced;
    ASSERT_TRUE(engine.img2img(r, img, {}, &plain).ok);
    GenerateRequest c = r;
    c.img2img_color_correction = true;
    Status st = engine.img2img(c, img, {}, &fixed);
    ASSERT_TRUE(st.ok) << st.message;
    ASSERT_EQ(fixed.size(), 2u);
    const Image target = imaging::color_correction_target(img);
    bool moved = false;
    for (size_t i = 0; i < 2; ++i) {
        EXPECT_EQ(fixed[i].image.pixels, imaging::apply_color_correction(target, plain[i].image).pixels) << i;
        EXPECT_EQ(fixed[i].infotext, plain[i].infotext);
        moved = moved || fixed[i].image.pixels != plain[i].image.pixels;
    }
    EXPECT_TRUE(moved);
    // A reference image of another size: its colours are the target.
    Image ref{40, 24, 4, std::vector<uint8_t>(40 * 24 * 4)};
    for (size_t i = 0; i < ref.pixels.size(); ++i) ref.pixels[i] = static_cast<uint8_t>(i % 4 == 3 ? 255 : 90 + (i * 7) % 60);
    st = engine.img2img(c, img, {}, &referenced, &ref);
    ASSERT_TRUE(st.ok) << st.message;
    for (size_t i = 0; i < 2; ++i)
        EXPECT_EQ(referenced[i].image.pixels,
                  imaging::apply_color_correction(imaging::color_correction_target(imaging::to_rgb(ref)), plain[i].image).pixels) << i;
    // Without the setting the reference changes nothing; a gray reference is refused.
    st = engine.img2img(r, img, {}, &referenced, &ref);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_EQ(referenced[0].image.pixels, plain[0].image.pixels);
    Image gray{8, 8, 1, std::vector<uint8_t>(64, 9)};
    st = engine.img2img(c, img, {}, &referenced, &gray);
    EXPECT_EQ(st.code, ErrorCode::kInvalidRequest);
    EXPECT_NE(st.message.find("colour correction reference"), std::string::npos) << st.message;

    // Inpainting, "fill" and "only masked": the correction sees the filled crop at the processing size.
    const auto model = pipeline::load_sd_model(mdl.checkpoints.front());
    text::ClipTokenizer tok(test::vocab_path());
    Image mask{64, 64, 1, std::vector<uint8_t>(64 * 64, 0)};
    for (int y = 20; y < 44; ++y)
        for (int x = 16; x < 40; ++x) mask.pixels[static_cast<size_t>(y) * 64 + x] = 255;
    GenerateRequest ir = pipeline::with_resolved_seeds(r);
    ir.batch_size = 1;
    ir.masked_content = 0;
    ir.inpaint_full_res = true;
    ir.inpaint_full_res_padding = 8;
    ir.width = ir.height = 64;
    const auto before = pipeline::generate_inpaint(*model, tok, ir, img, mask, {});
    ir.img2img_color_correction = true;
    const auto after = pipeline::generate_inpaint(*model, tok, ir, img, mask, {});
    ASSERT_EQ(after.images.size(), 1u);
    EXPECT_EQ(after.decoded[0].pixels, before.decoded[0].pixels);
    const Image corrected = imaging::apply_color_correction(imaging::color_correction_target(after.prep.encoder_input), before.decoded[0]);
    EXPECT_NE(corrected.pixels, before.decoded[0].pixels);
    EXPECT_EQ(after.images[0].pixels, imaging::finish_inpaint(corrected, after.prep).pixels);
    EXPECT_NE(after.images[0].pixels, before.images[0].pixels);
}

// A1111's "Zero Terminal SNR" noise schedule reaches every pass that samples (txt2img, the hires
// pass, img2img): the engine's images equal the pipeline's on a model whose schedule was rescaled by
// hand; the text records it where A1111 does and pasting puts it back.
TEST(OracleNets, EngineZeroTerminalSnrSchedule) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    const std::string ckpt = models.front().checkpoints.front();
    Engine engine;
    ASSERT_TRUE(engine.load_model({ckpt, "", test::vocab_path()}, nullptr).ok);
    auto rescaled = pipeline::load_sd_model(ckpt);
    rescaled->schedule = rescaled->schedule.zero_terminal_snr();
    text::ClipTokenizer tok(test::vocab_path());
    auto pixels = [](const std::vector<uint8_t>& p, int w, int h) {
        return torch::from_blob(const_cast<uint8_t*>(p.data()), {h, w, 3}, torch::kUInt8).to(torch::kInt);
    };
    GenerateRequest r;
    r.prompt = "a red house";
    r.sampler = "DPM++ 2M";
    r.steps = 4;
    r.width = r.height = 64;
    r.seed = 7;
    std::vector<GeneratedImage> plain, z;
    ASSERT_TRUE(engine.txt2img(r, {}, &plain).ok);
    GenerateRequest zr = r;
    zr.noise_schedule = "Zero Terminal SNR";
    Status st = engine.txt2img(zr, {}, &z);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_NE(z[0].image.pixels, plain[0].image.pixels);
    auto want = pipeline::generate_txt2img(*rescaled, tok, pipeline::with_resolved_seeds(r), {});
    EXPECT_LE((pixels(z[0].image.pixels, 64, 64) - want.images[0].to(torch::kInt)).abs().max().item<int>(), 1);
    EXPECT_NE(z[0].infotext.find("Noise Schedule: Zero Terminal SNR, Version"), std::string::npos) << z[0].infotext;
    GenerateRequest back;
    EXPECT_TRUE(apply_parameters(z[0].infotext, &back).empty());
    EXPECT_EQ(back.noise_schedule, "Zero Terminal SNR");
    EXPECT_TRUE(apply_parameters(plain[0].infotext, &back).empty());
    EXPECT_EQ(back.noise_schedule, "Default");

    GenerateRequest h = zr;
    h.enable_hr = true;
    h.hr_scale = 1.5;
    h.denoising_strength = 0.5;
    st = engine.txt2img(h, {}, &z);
    ASSERT_TRUE(st.ok) << st.message;
    GenerateRequest hd = h;
    hd.noise_schedule = "Default";
    want = pipeline::generate_txt2img(*rescaled, tok, pipeline::with_resolved_seeds(hd), {});
    EXPECT_LE((pixels(z[0].image.pixels, 96, 96) - want.images[0].to(torch::kInt)).abs().max().item<int>(), 1);

    Image img{64, 64, 3, std::vector<uint8_t>(64 * 64 * 3)};
    for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>((i * 7) % 251);
    GenerateRequest i2i = zr;
    i2i.denoising_strength = 0.4;
    st = engine.img2img(i2i, img, {}, &z);
    ASSERT_TRUE(st.ok) << st.message;
    GenerateRequest id = i2i;
    id.noise_schedule = "Default";
    const auto init = torch::from_blob(img.pixels.data(), {1, 64, 64, 3}, torch::kUInt8).permute({0, 3, 1, 2}).to(torch::kFloat) / 127.5 - 1;
    want = pipeline::generate_img2img(*rescaled, tok, pipeline::with_resolved_seeds(id), init, {});
    EXPECT_LE((pixels(z[0].image.pixels, 64, 64) - want.images[0].to(torch::kInt)).abs().max().item<int>(), 1);

    // A1111's downcast alphas (its half-precision models before 1.7): a text of 1.6 sets it.
    GenerateRequest dr = r;
    EXPECT_TRUE(apply_parameters("a red house\nSteps: 4, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 7, "
                                 "Size: 64x64, Version: v1.6.0", &dr).empty());
    EXPECT_TRUE(dr.downcast_alphas_cumprod);
    dr.schedule = "Automatic";
    st = engine.txt2img(dr, {}, &z);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_NE(z[0].image.pixels, plain[0].image.pixels);
    EXPECT_NE(z[0].infotext.find("Downcast alphas_cumprod: True, Version"), std::string::npos) << z[0].infotext;
    auto halved = pipeline::load_sd_model(ckpt);
    halved->schedule = halved->schedule.alpha_override(true, false);
    want = pipeline::generate_txt2img(*halved, tok, pipeline::with_resolved_seeds(r), {});
    EXPECT_LE((pixels(z[0].image.pixels, 64, 64) - want.images[0].to(torch::kInt)).abs().max().item<int>(), 1);

    zr.noise_schedule = "Zero terminal";
    st = engine.txt2img(zr, {}, &z);
    EXPECT_FALSE(st.ok);
    EXPECT_EQ(st.message, "The noise schedule must be \"Default\" or \"Zero Terminal SNR\", not \"Zero terminal\".");
}

// A1111's "old prompt editing timelines": "[a:b:1.5]" switches after step 1 as before 1.6 (now: at
// 1.5 x the steps, i.e. never), the same schedule as "[a:b:1]" today; noted in the text only when it
// changed a schedule, and set again by pasting a text of a version before 1.6.
TEST(OracleNets, EngineOldPromptEditingTimelines) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    Engine engine;
    ASSERT_TRUE(engine.load_model({models.front().checkpoints.front(), "", test::vocab_path()}, nullptr).ok);
    GenerateRequest r;
    r.sampler = "Euler";
    r.steps = 6;
    r.width = r.height = 64;
    r.seed = 9;
    auto run = [&](const std::string& prompt, bool old, std::string* info) {
        GenerateRequest q = r;
        q.prompt = prompt;
        q.old_prompt_editing_timelines = old;
        std::vector<GeneratedImage> out;
        const Status st = engine.txt2img(q, {}, &out);
        *info = st.ok ? out[0].infotext : st.message;
        return st.ok ? out[0].image.pixels : std::vector<uint8_t>();
    };
    std::string t_old, t_new, t_one, t_same;
    const auto old = run("[a red cube:a blue ball:1.5]", true, &t_old);
    const auto now = run("[a red cube:a blue ball:1.5]", false, &t_new);
    const auto one = run("[a red cube:a blue ball:1]", false, &t_one);
    ASSERT_FALSE(old.empty()) << t_old;
    EXPECT_EQ(old, one);
    EXPECT_NE(old, now);
    EXPECT_NE(t_old.find("Old prompt editing timelines: True"), std::string::npos) << t_old;
    EXPECT_EQ(t_new.find("Old prompt editing"), std::string::npos) << t_new;
    // A schedule both readings agree on: nothing to note.
    run("[a red cube:a blue ball:0.5]", true, &t_same);
    EXPECT_EQ(t_same.find("Old prompt editing"), std::string::npos) << t_same;
    GenerateRequest back;
    EXPECT_TRUE(apply_parameters(t_old, &back).empty());
    EXPECT_TRUE(back.old_prompt_editing_timelines);
    apply_parameters(t_new, &back);
    EXPECT_FALSE(back.old_prompt_editing_timelines);
    apply_parameters("[a:b:1.5]\nSteps: 6, Sampler: Euler, CFG scale: 7, Seed: 9, Size: 64x64, Version: v1.5.2", &back);
    EXPECT_TRUE(back.old_prompt_editing_timelines);
}

// A1111's "Pad prompt/negative prompt": a two-chunk prompt with a one-chunk negative prompt runs
// as one batch, the negative padded with the empty prompt, which is what a negative prompt that
// ends in an empty chunk ("blurry BREAK BREAK") gives without padding; noted in the text as
// "Pad conds" only when it padded, and pasted back.
TEST(OracleNets, EnginePadsPromptsOfDifferentLengths) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    Engine engine;
    ASSERT_TRUE(engine.load_model({models.front().checkpoints.front(), "", test::vocab_path()}, nullptr).ok);
    GenerateRequest r;
    for (int i = 0; i < 20; ++i) r.prompt += "a red house, ";
    r.negative_prompt = "blurry";
    r.steps = 4;
    r.width = r.height = 64;
    r.seed = 4;
    auto run = [&](const GenerateRequest& q, std::string* info) {
        std::vector<GeneratedImage> out;
        const Status st = engine.txt2img(q, {}, &out);
        *info = st.ok ? out[0].infotext : st.message;
        return st.ok ? out[0].image.pixels : std::vector<uint8_t>();
    };
    std::string t_plain, t_pad, t_break;
    const auto plain = run(r, &t_plain);
    GenerateRequest p = r;
    p.pad_cond_uncond = true;
    const auto padded = run(p, &t_pad);
    GenerateRequest b = r;
    b.negative_prompt = "blurry BREAK BREAK";
    const auto broken = run(b, &t_break);
    ASSERT_FALSE(padded.empty()) << t_pad;
    EXPECT_NE(padded, plain);
    ASSERT_EQ(padded.size(), broken.size());
    int worst = 0;
    for (size_t i = 0; i < padded.size(); ++i) worst = std::max(worst, std::abs(padded[i] - broken[i]));
    EXPECT_LE(worst, 1);
    EXPECT_NE(t_pad.find("Pad conds: True"), std::string::npos) << t_pad;
    EXPECT_EQ(t_plain.find("Pad conds"), std::string::npos) << t_plain;
    GenerateRequest back;
    EXPECT_TRUE(apply_parameters(t_pad, &back).empty());
    EXPECT_TRUE(back.pad_cond_uncond);
    apply_parameters(t_plain, &back);
    EXPECT_FALSE(back.pad_cond_uncond);
    // Prompts of one length: nothing to pad, nothing noted.
    GenerateRequest e = p;
    e.prompt = "a red house";
    std::string t_even;
    run(e, &t_even);
    EXPECT_EQ(t_even.find("Pad conds"), std::string::npos) << t_even;
    // v0 (texts of A1111 before 1.6 with DDIM or PLMS): the negative's last vector repeated.
    GenerateRequest v = p;
    v.pad_cond_uncond_v0 = true;
    std::string t_v0;
    EXPECT_NE(run(v, &t_v0), padded);
    EXPECT_NE(t_v0.find("Pad conds v0: True"), std::string::npos) << t_v0;
}

// A1111 notes "NGMS" (and "NGMS all steps") once a call skipped its uncond pass for it: a sigma
// below every step's never skips and is not noted (the image is the plain one), one above them all
// skips and is; Skip Early CFG covering every call leaves NGMS no call to skip.
TEST(OracleNets, EngineNotesNgmsOnlyWhenItSkipped) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    Engine engine;
    ASSERT_TRUE(engine.load_model({models.front().checkpoints.front(), "", test::vocab_path()}, nullptr).ok);
    GenerateRequest r;
    r.prompt = "a red house";
    r.negative_prompt = "blurry";
    r.steps = 4;
    r.width = r.height = 64;
    r.seed = 4;
    auto run = [&](const GenerateRequest& q, std::string* info) {
        std::vector<GeneratedImage> out;
        const Status st = engine.txt2img(q, {}, &out);
        *info = st.ok ? out[0].infotext : st.message;
        return st.ok ? out[0].image.pixels : std::vector<uint8_t>();
    };
    std::string t_plain, t_low, t_high, t_early;
    const auto plain = run(r, &t_plain);
    GenerateRequest low = r;
    low.s_min_uncond = 0.001;  // below the schedule's last sigma
    low.s_min_uncond_all = true;
    EXPECT_EQ(run(low, &t_low), plain);
    EXPECT_EQ(t_low.find("NGMS"), std::string::npos) << t_low;
    GenerateRequest high = r;
    high.s_min_uncond = 100;
    high.s_min_uncond_all = true;
    EXPECT_NE(run(high, &t_high), plain);
    EXPECT_NE(t_high.find("NGMS: 100.0, NGMS all steps: True"), std::string::npos) << t_high;
    GenerateRequest early = high;
    early.skip_early_cond = 1;
    run(early, &t_early);
    EXPECT_NE(t_early.find("Skip Early CFG: 1.0"), std::string::npos) << t_early;
    EXPECT_EQ(t_early.find("NGMS"), std::string::npos) << t_early;
}

// LyCORIS IA3 (W scaled per output, or per input with on_input), GLoRA (W a2 a1 + b2 b1; A1111 1.10
// leaves its alpha unused) and full differences (diff and diff_b, the bias by the multiplier only)
// against A1111's formulas, restored afterwards; IA3 on a convolution is refused.
TEST(OracleNets, LycorisIa3GloraAndFullDiffsAreMerged) {
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    auto m = pipeline::load_sd_model(models.front().checkpoints.front());
    const bool sd2 = m->cfg.text.kind == TextEncoderKind::kOpenCLIP;
    auto params = m->net->named_parameters(true);
    const std::string b = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.";
    const std::string k1 = b + "attn1.to_k.weight", k2 = b + "attn2.to_k.weight", v1 = b + "attn1.to_v.weight";
    const std::string out_w = b + "attn1.to_out.0.weight", out_b = b + "attn1.to_out.0.bias";
    const auto Wk1 = params[k1].detach().clone(), Wk2 = params[k2].detach().clone(), Wv1 = params[v1].detach().clone(),
               Wo = params[out_w].detach().clone(), Bo = params[out_b].detach().clone();
    torch::manual_seed(11);
    std::vector<io::FloatTensor> t;
    auto put = [&](const std::string& key, const torch::Tensor& x) {
        const torch::Tensor c = x.contiguous().to(torch::kFloat);
        t.push_back({key, c.sizes().vec(), std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel())});
    };
    auto rnd = [](std::vector<int64_t> shape) { return torch::randn(shape) * 0.1; };
    const std::string p = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_";
    // IA3 per output row on attn1's k, per input column on attn2's k (a different width).
    const auto s1 = rnd({Wk1.size(0)}), s2 = rnd({Wk2.size(1)});
    put(p + "attn1_to_k.weight", s1);
    put(p + "attn1_to_k.on_input", torch::zeros({}));
    put(p + "attn2_to_k.weight", s2);
    put(p + "attn2_to_k.on_input", torch::ones({}));
    // GLoRA on attn1's v, rank 2, with an alpha A1111 1.10 does not use.
    const int64_t o = Wv1.size(0), i = Wv1.size(1);
    const auto a1 = rnd({2, i}), a2 = rnd({i, 2}), b1 = rnd({2, i}), b2 = rnd({o, 2});
    put(p + "attn1_to_v.a1.weight", a1);
    put(p + "attn1_to_v.a2.weight", a2);
    put(p + "attn1_to_v.b1.weight", b1);
    put(p + "attn1_to_v.b2.weight", b2);
    put(p + "attn1_to_v.alpha", torch::full({}, 1.0));
    // A full difference on the output projection, bias included.
    const auto diff = rnd({Wo.size(0), Wo.size(1)}), diff_b = rnd({Bo.size(0)});
    put(p + "attn1_to_out_0.diff", diff);
    put(p + "attn1_to_out_0.diff_b", diff_b);
    char tmpl[] = "/tmp/gd-ia3-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string file = std::string(tmpl) + "/kinds.safetensors";
    io::write_safetensors(file, t);
    models::LoraWeights w;
    models::LoraCall call;
    call.name = "kinds";
    call.path = file;
    call.unet = 0.5;
    const auto res = w.apply(m->net, {call}, sd2);
    EXPECT_EQ(res[0].layers, 4);
    EXPECT_LT(test::max_abs_diff(params[k1], Wk1 + Wk1 * s1.view({-1, 1}) * 0.5), 1e-6);
    EXPECT_LT(test::max_abs_diff(params[k2], Wk2 + Wk2 * s2.view({1, -1}) * 0.5), 1e-6);
    EXPECT_LT(test::max_abs_diff(params[v1], Wv1 + (torch::mm(b2, b1) + torch::mm(torch::mm(Wv1, a2), a1)) * 0.5), 1e-6);
    EXPECT_LT(test::max_abs_diff(params[out_w], Wo + diff * 0.5), 1e-6);
    EXPECT_LT(test::max_abs_diff(params[out_b], Bo + diff_b * 0.5), 1e-6);
    w.restore();
    EXPECT_TRUE(params[k1].equal(Wk1));
    EXPECT_TRUE(params[v1].equal(Wv1));
    EXPECT_TRUE(params[out_b].equal(Bo));
    // IA3 scales of another width, and IA3 on a convolution: one sentence each, nothing changed.
    for (int variant = 0; variant < 2; ++variant) {
        std::vector<io::FloatTensor> bad;
        if (variant == 0) {
            bad = {{p + "attn1_to_k.weight", {Wk1.size(0) + 1}, std::vector<float>(static_cast<size_t>(Wk1.size(0) + 1), 0.1f)}};
        } else {
            const int64_t ch = params["model.diffusion_model.input_blocks.1.0.in_layers.2.weight"].size(0);
            bad = {{"lora_unet_down_blocks_0_resnets_0_conv1.weight", {ch}, std::vector<float>(static_cast<size_t>(ch), 0.1f)}};
        }
        io::write_safetensors(file, bad);
        try {
            (void)w.apply(m->net, {call}, sd2);
            ADD_FAILURE() << "variant " << variant << " was applied";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(variant == 0 ? "IA3 scales for a layer of" : "an IA3 or GLoRA network on a convolution"),
                      std::string::npos) << e.what();
        }
        EXPECT_TRUE(params[k1].equal(Wk1));
    }
    ::unlink(file.c_str());
    ::rmdir(tmpl);
}

// OFT as A1111 1.10's network_oft merges it, against the rotations written out here as matrices:
// kohya's oft_blocks (Cayley transform of the skew-symmetric part, its norm clamped to alpha * rows),
// old LyCORIS's oft_diag (the rotations themselves), BOFT's butterfly stages as explicit row
// permutations, "rescale" per row; the change is the turned weight less the original, times the
// multiplier only. Norm-layer differences (w_norm times the file's scale, b_norm) on GroupNorm and
// LayerNorm, the text encoder's by the te multiplier.
TEST(OracleNets, LycorisOftBoftAndNormLayersAreMerged) {
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    auto m = pipeline::load_sd_model(models.front().checkpoints.front());
    const bool sd2 = m->cfg.text.kind == TextEncoderKind::kOpenCLIP;
    auto params = m->net->named_parameters(true);
    const std::string u = "model.diffusion_model.input_blocks.1.", tb = u + "1.transformer_blocks.0.";
    const std::string q = tb + "attn1.to_q.weight", k = tb + "attn1.to_k.weight", v = tb + "attn1.to_v.weight",
                      conv = u + "0.in_layers.2.weight", gn_w = u + "0.in_layers.0.weight", gn_b = u + "0.in_layers.0.bias",
                      ln_w = tb + "norm1.weight", ln_b = tb + "norm1.bias",
                      te_w = "cond_stage_model.transformer.text_model.encoder.layers.0.layer_norm1.weight";
    std::map<std::string, torch::Tensor> before;
    for (const auto& name : {q, k, v, conv, gn_w, gn_b, ln_w, ln_b}) before[name] = params[name].detach().clone();
    if (!sd2) before[te_w] = params[te_w].detach().clone();
    const int64_t rows = before[q].size(0);
    ASSERT_EQ(rows % 8, 0);
    torch::manual_seed(13);
    std::vector<io::FloatTensor> t;
    auto put = [&](const std::string& key, const torch::Tensor& x) {
        const torch::Tensor c = x.contiguous().to(torch::kFloat);
        t.push_back({key, c.sizes().vec(), std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel())});
    };
    auto rnd = [](std::vector<int64_t> shape, double s = 0.1) { return torch::randn(shape) * s; };
    // A block-diagonal matrix of rotations.
    auto block_diag = [](const torch::Tensor& blocks) {
        const int64_t n = blocks.size(0), b = blocks.size(1);
        auto out = torch::zeros({n * b, n * b});
        for (int64_t i = 0; i < n; ++i) out.slice(0, i * b, (i + 1) * b).slice(1, i * b, (i + 1) * b).copy_(blocks[i]);
        return out;
    };
    // (I + Q)(I - Q)^-1 solved from the right, per block.
    auto cayley = [](const torch::Tensor& blocks, double clamp_to) {
        auto Q = blocks - blocks.transpose(-1, -2);
        if (clamp_to > 0) {
            const double n = Q.norm().item<double>();
            Q = Q * ((std::min(n, clamp_to) + 1e-8) / (n + 1e-8));
        }
        const auto eye = torch::eye(blocks.size(-1)).expand_as(Q);
        return torch::linalg_solve((eye - Q).transpose(-1, -2), (eye + Q).transpose(-1, -2)).transpose(-1, -2);
    };
    auto turned = [&](const torch::Tensor& R, const torch::Tensor& W) {
        return torch::mm(block_diag(R).t(), W.reshape({W.size(0), -1})).reshape(W.sizes());
    };
    const std::string p = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_";
    // kohya-style OFT on to_q: blocks of 4, alpha small enough that the norm is clamped.
    const auto bq = rnd({rows / 4, 4, 4});
    put(p + "to_q.oft_blocks", bq);
    put(p + "to_q.alpha", torch::full({}, 0.002));
    put(p + "to_q.scale", torch::full({}, 3.0));  // A1111 ignores a scale for OFT
    const auto want_q = turned(cayley(bq, 0.002 * static_cast<double>(rows)), before[q]);
    // BOFT on to_k: two butterfly stages of blocks of 4, no alpha, a rescale per row.
    const auto bk = rnd({2, rows / 4, 4, 4}), rescale = 1.0 + rnd({rows, 1});
    put(p + "to_k.oft_blocks", bk);
    put(p + "to_k.rescale", rescale);
    torch::Tensor want_k = before[k].clone();
    {
        const auto R = cayley(bk, 0);
        for (int64_t stage = 0; stage < 2; ++stage) {
            // Stage i pairs row c*2s + g*s + j (g = 0, 1; s = 2^i * 2) as rows c*2s + 2j + g of the blocks.
            const int64_t s = (int64_t{1} << stage) * 2;
            auto idx = torch::empty({rows}, torch::kLong);
            for (int64_t c = 0; c < rows / (2 * s); ++c)
                for (int64_t j = 0; j < s; ++j)
                    for (int64_t g = 0; g < 2; ++g) idx[c * 2 * s + 2 * j + g] = c * 2 * s + g * s + j;
            const auto y = torch::mm(block_diag(R[stage]), want_k.index_select(0, idx));
            want_k = torch::zeros_like(want_k).index_copy_(0, idx, y);
        }
        want_k = want_k * rescale;
    }
    // kohya's own naming (oft_unet_ + the original UNet's module path) on to_v, alpha 0: no clamp.
    const auto bv = rnd({rows / 8, 8, 8});
    put("oft_unet_input_blocks_1_1_transformer_blocks_0_attn1_to_v.oft_blocks", bv);
    put("oft_unet_input_blocks_1_1_transformer_blocks_0_attn1_to_v.alpha", torch::zeros({}));
    const auto want_v = turned(cayley(bv, 0), before[v]);
    // Old LyCORIS's oft_diag on the 3x3 convolution: the file's blocks are the rotations.
    const int64_t conv_rows = before[conv].size(0);
    ASSERT_EQ(conv_rows % 4, 0);
    const auto dc = torch::eye(4).expand({conv_rows / 4, 4, 4}) + rnd({conv_rows / 4, 4, 4});
    put("lora_unet_down_blocks_0_resnets_0_conv1.oft_diag", dc);
    const auto want_conv = turned(dc, before[conv]);
    // Norm layers: the resnet's GroupNorm with a scale of 2, the block's LayerNorm, the text encoder's first.
    const auto gw = rnd({before[gn_w].size(0)}), gb = rnd({before[gn_b].size(0)}), lw = rnd({before[ln_w].size(0)}),
               lb = rnd({before[ln_b].size(0)});
    put("lora_unet_down_blocks_0_resnets_0_norm1.w_norm", gw);
    put("lora_unet_down_blocks_0_resnets_0_norm1.b_norm", gb);
    put("lora_unet_down_blocks_0_resnets_0_norm1.scale", torch::full({}, 2.0));
    put("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_norm1.w_norm", lw);
    put("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_norm1.b_norm", lb);
    const int64_t te_width = sd2 ? 1 : before[te_w].size(0);
    const auto tw = rnd({te_width}), tbias = rnd({te_width});
    // SD 2.x: A1111 has no name for OpenCLIP's ln_1 here, so the pair is left aside as there.
    put("lora_te_text_model_encoder_layers_0_layer_norm1.w_norm", tw);
    put("lora_te_text_model_encoder_layers_0_layer_norm1.b_norm", tbias);

    char tmpl[] = "/tmp/gd-oft-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string file = std::string(tmpl) + "/oft.safetensors";
    io::write_safetensors(file, t);
    models::LoraWeights w;
    models::LoraCall call;
    call.name = "oft";
    call.path = file;
    call.te = 0.8;
    call.unet = 0.5;
    const auto res = w.apply(m->net, {call}, sd2);
    EXPECT_EQ(res[0].layers, sd2 ? 6 : 7);
    auto check = [&](const std::string& name, const torch::Tensor& want, double tol) {
        EXPECT_LT(test::max_abs_diff(params[name], want), tol) << name;
    };
    check(q, before[q] + (want_q - before[q]) * 0.5, 1e-5);
    check(k, before[k] + (want_k - before[k]) * 0.5, 1e-5);
    check(v, before[v] + (want_v - before[v]) * 0.5, 1e-5);
    check(conv, before[conv] + (want_conv - before[conv]) * 0.5, 1e-5);
    check(gn_w, before[gn_w] + gw * 2.0 * 0.5, 1e-6);
    check(gn_b, before[gn_b] + gb * 0.5, 1e-6);
    check(ln_w, before[ln_w] + lw * 0.5, 1e-6);
    check(ln_b, before[ln_b] + lb * 0.5, 1e-6);
    if (!sd2) check(te_w, before[te_w] + tw * 0.8, 1e-6);
    // The clamp mattered: an unclamped rotation would differ.
    EXPECT_GT(test::max_abs_diff(turned(cayley(bq, 0), before[q]), want_q), 1e-4);
    // Rotations keep each block's column norms: the turned weight's norm per block is unchanged.
    EXPECT_NEAR(want_v.norm().item<double>(), before[v].norm().item<double>(), 1e-3);
    w.restore();
    for (const auto& [name, b] : before) EXPECT_TRUE(params[name].equal(b)) << name;

    // A norm difference of another width, and a LoRA pair on a norm layer: one sentence each.
    for (int variant = 0; variant < 2; ++variant) {
        std::vector<io::FloatTensor> bad;
        const std::string base = "lora_unet_down_blocks_0_resnets_0_norm1";
        const int64_t ch = before[gn_w].size(0);
        if (variant == 0) {
            bad = {{base + ".w_norm", {ch + 1}, std::vector<float>(static_cast<size_t>(ch + 1), 0.1f)},
                   {base + ".b_norm", {ch + 1}, std::vector<float>(static_cast<size_t>(ch + 1), 0.1f)}};
        } else {
            bad = {{base + ".lora_up.weight", {ch, 1}, std::vector<float>(static_cast<size_t>(ch), 0.1f)},
                   {base + ".lora_down.weight", {1, ch}, std::vector<float>(static_cast<size_t>(ch), 0.1f)}};
        }
        io::write_safetensors(file, bad);
        try {
            (void)w.apply(m->net, {call}, sd2);
            ADD_FAILURE() << "variant " << variant << " was applied";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(variant == 0 ? "it is a LoRA for another model family" : "on the norm layer " + base),
                      std::string::npos) << e.what();
        }
        for (const auto& [name, b] : before) EXPECT_TRUE(params[name].equal(b)) << name;
    }
    ::unlink(file.c_str());
    ::rmdir(tmpl);
}

// <hypernet:name:m> as A1111 1.10 runs it: a name its hypernetworks folders lack is skipped (the tag
// only leaves the prompt); one they have rewrites the context of every UNet attention layer, so the
// image is the one the pipeline gives with that network in the model by hand; multiplier 0 gives
// the untagged image; a hires prompt without the tag takes it off for the second pass; a damaged
// file is refused in one sentence.
TEST(OracleNets, HypernetworkTagsRunAsA1111) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    const std::string ckpt = models.front().checkpoints.front();
    char tmpl[] = "/tmp/gd-hypernet-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    const std::string file = dir + "/anime.pt";
    ::setenv("GIMP_DIFFUSION_HYPERNETWORK_DIR", dir.c_str(), 1);
    Engine engine;
    ASSERT_TRUE(engine.load_model({ckpt, "", test::vocab_path()}, nullptr).ok);
    GenerateRequest r;
    r.prompt = "a red house";
    r.steps = 3;
    r.width = r.height = 64;
    r.seed = 3;
    std::vector<GeneratedImage> plain, tagged;
    ASSERT_TRUE(engine.txt2img(r, {}, &plain).ok);
    GenerateRequest t = r;
    t.prompt = "a red house <hypernet:anime:0.6>";
    Status st = engine.txt2img(t, {}, &tagged);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_EQ(tagged[0].image.pixels, plain[0].image.pixels);  // no anime.pt yet
    EXPECT_NE(tagged[0].infotext.find("a red house <hypernet:anime:0.6>\n"), std::string::npos);  // the prompt as written

    // A network for the text context's width and every UNet level's, tanh with layer norm.
    auto m = pipeline::load_sd_model(ckpt);
    std::vector<int64_t> widths = {m->cfg.unet.context_dim};
    for (int mult : m->cfg.unet.channel_mult) widths.push_back(static_cast<int64_t>(m->cfg.unet.model_channels) * mult);
    std::sort(widths.begin(), widths.end());
    widths.erase(std::unique(widths.begin(), widths.end()), widths.end());
    torch::manual_seed(11);
    std::vector<std::pair<test::Py, test::Py>> top;
    for (int64_t d : widths) {
        std::vector<test::Py> pair;
        for (int which = 0; which < 2; ++which)
            pair.push_back(test::Py::state_dict({{"linear.0.weight", torch::randn({2 * d, d}) * 0.2}, {"linear.0.bias", torch::randn({2 * d}) * 0.1},
                                                 {"linear.2.weight", 1 + torch::randn({2 * d}) * 0.1}, {"linear.2.bias", torch::randn({2 * d}) * 0.1},
                                                 {"linear.3.weight", torch::randn({d, 2 * d}) * 0.2}, {"linear.3.bias", torch::randn({d}) * 0.1},
                                                 {"linear.4.weight", 0.3 + torch::randn({d}) * 0.1}, {"linear.4.bias", torch::randn({d}) * 0.1}}));
        top.emplace_back(test::Py::integer(d), test::Py::tuple(pair));
    }
    top.emplace_back(test::Py::str("layer_structure"), test::Py::list({test::Py::integer(1), test::Py::integer(2), test::Py::integer(1)}));
    top.emplace_back(test::Py::str("activation_func"), test::Py::str("tanh"));
    top.emplace_back(test::Py::str("is_layer_norm"), test::Py::boolean(true));
    top.emplace_back(test::Py::str("activate_output"), test::Py::boolean(false));
    {
        const std::string bytes = test::torch_save_zip(test::Py::dict_of(top));
        std::FILE* f = std::fopen(file.c_str(), "wb");
        ASSERT_NE(f, nullptr);
        std::fwrite(bytes.data(), 1, bytes.size(), f);
        std::fclose(f);
    }
    st = engine.txt2img(t, {}, &tagged);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_NE(tagged[0].image.pixels, plain[0].image.pixels);
    EXPECT_NE(tagged[0].infotext.find("a red house <hypernet:anime:0.6>\n"), std::string::npos);
    {
        auto set = std::make_shared<models::HypernetworkSet>();
        set->nets.emplace_back(std::make_shared<const models::Hypernetwork>(models::load_hypernetwork(file, "anime")), 0.6);
        m->set_hypernetworks(set, "by hand");
        text::ClipTokenizer tok(test::vocab_path());
        const auto want = pipeline::generate_txt2img(*m, tok, pipeline::with_resolved_seeds(t), {});  // the tag leaves the prompt there
        const auto got = torch::from_blob(tagged[0].image.pixels.data(), {64, 64, 3}, torch::kUInt8).to(torch::kInt);
        EXPECT_LE((got - want.images[0].to(torch::kInt)).abs().max().item<int>(), 1);
    }
    // Found through the load request's folders as well (the plug-in's model folders' hypernetworks/).
    ::unsetenv("GIMP_DIFFUSION_HYPERNETWORK_DIR");
    {
        Engine by_request;
        ModelRequest mr(ckpt, "", test::vocab_path());
        mr.hypernetwork_dirs = {"/nonexistent", dir};
        ASSERT_TRUE(by_request.load_model(mr, nullptr).ok);
        std::vector<GeneratedImage> found;
        ASSERT_TRUE(by_request.txt2img(t, {}, &found).ok);
        EXPECT_EQ(found[0].image.pixels, tagged[0].image.pixels);
    }
    ::setenv("GIMP_DIFFUSION_HYPERNETWORK_DIR", dir.c_str(), 1);
    {
        // bfloat16 weights: the networks follow the model's precision (their layer norms in float32).
        Engine bf16;
        ASSERT_TRUE(bf16.load_model({ckpt, "", test::vocab_path(), "bfloat16"}, nullptr).ok);
        std::vector<GeneratedImage> b_plain, b_tagged;
        ASSERT_TRUE(bf16.txt2img(r, {}, &b_plain).ok);
        st = bf16.txt2img(t, {}, &b_tagged);
        ASSERT_TRUE(st.ok) << st.message;
        EXPECT_NE(b_tagged[0].image.pixels, b_plain[0].image.pixels);
        double diff = 0;
        for (size_t i = 0; i < b_tagged[0].image.pixels.size(); ++i)
            diff += std::abs(int(b_tagged[0].image.pixels[i]) - int(tagged[0].image.pixels[i]));
        EXPECT_LT(diff / static_cast<double>(b_tagged[0].image.pixels.size()), 8.0);  // close to the float32 image
    }
    // Multiplier 0: x + mlp(x) * 0 is x.
    GenerateRequest zero = r;
    zero.prompt = "a red house <hypernet:anime:0>";
    std::vector<GeneratedImage> off;
    ASSERT_TRUE(engine.txt2img(zero, {}, &off).ok);
    EXPECT_EQ(off[0].image.pixels, plain[0].image.pixels);
    // The untagged prompt afterwards runs without it.
    std::vector<GeneratedImage> again;
    ASSERT_TRUE(engine.txt2img(r, {}, &again).ok);
    EXPECT_EQ(again[0].image.pixels, plain[0].image.pixels);

    // Hires. fix: a hires prompt without the tag runs its pass without the network.
    GenerateRequest h = t;
    h.enable_hr = true;
    h.hr_scale = 1.5;
    h.hr_upscaler = "Latent";
    h.denoising_strength = 0.5;
    std::vector<GeneratedImage> both, first_only;
    ASSERT_TRUE(engine.txt2img(h, {}, &both).ok);
    h.hr_prompt = "a red house";
    st = engine.txt2img(h, {}, &first_only);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_NE(both[0].image.pixels, first_only[0].image.pixels);
    h.hr_prompt = t.prompt;  // the same tags: the same image as without a hires prompt
    std::vector<GeneratedImage> same;
    ASSERT_TRUE(engine.txt2img(h, {}, &same).ok);
    EXPECT_EQ(same[0].image.pixels, both[0].image.pixels);

    GenerateRequest bad_number = r;
    bad_number.prompt = "a red house <hypernet:anime:strong>";
    st = engine.txt2img(bad_number, {}, &tagged);
    EXPECT_FALSE(st.ok);
    EXPECT_NE(st.message.find("\"strong\" in a <hypernet:...> tag is not a number; write e.g. <hypernet:anime:0.8>."), std::string::npos)
        << st.message;
    {
        std::FILE* f = std::fopen(file.c_str(), "wb");
        ASSERT_NE(f, nullptr);
        std::fputs("not a torch file", f);
        std::fclose(f);
    }
    st = engine.txt2img(t, {}, &tagged);
    EXPECT_FALSE(st.ok);
    EXPECT_NE(st.message.find("The hypernetwork \"anime\" cannot be used (" + file + ": "), std::string::npos) << st.message;
    EXPECT_NE(st.message.find("); replace the file or remove <hypernet:anime...> from the prompt."), std::string::npos) << st.message;
    // In a hires prompt too, before any step.
    GenerateRequest hr = r;
    hr.enable_hr = true;
    hr.denoising_strength = 0.5;
    hr.hr_prompt = t.prompt;
    st = engine.txt2img(hr, {}, &tagged);
    EXPECT_NE(st.message.find("The hypernetwork \"anime\" cannot be used"), std::string::npos) << st.message;
    ::unsetenv("GIMP_DIFFUSION_HYPERNETWORK_DIR");
    ::unlink(file.c_str());
    ::rmdir(dir.c_str());
}

// 9-channel inpainting models: img2img without a mask conditions them on a full mask (A1111), and
// the conditioning mask strength changes the result and is recorded as "Conditional mask weight".
TEST(OracleNets, InpaintingModelImg2ImgAndMaskStrength) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    int runs = 0;
    for (const auto& mdl : test::oracle_models()) {
        if (mdl.name.find("inpaint") == std::string::npos) continue;
        Engine engine;
        ASSERT_TRUE(engine.load_model({mdl.checkpoints.front(), "", test::vocab_path()}).ok);
        Image img{64, 64, 3, std::vector<uint8_t>(64 * 64 * 3)};
        for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>((i * 13) % 241);
        GenerateRequest r;
        r.prompt = "pebbles";
        r.steps = 4;
        r.seed = 5;
        r.width = r.height = 64;
        r.denoising_strength = 0.6;
        std::vector<GeneratedImage> full, half;
        Status st = engine.img2img(r, img, {}, &full);
        ASSERT_TRUE(st.ok) << st.message;
        r.inpainting_mask_weight = 0.5;
        st = engine.img2img(r, img, {}, &half);
        ASSERT_TRUE(st.ok) << st.message;
        ASSERT_EQ(full.size(), 1u);
        EXPECT_NE(full[0].image.pixels, half[0].image.pixels);
        EXPECT_NE(full[0].infotext.find("Conditional mask weight: 1.0"), std::string::npos) << full[0].infotext;
        EXPECT_NE(half[0].infotext.find("Conditional mask weight: 0.5"), std::string::npos) << half[0].infotext;
        GenerateRequest back;
        apply_parameters(half[0].infotext, &back);
        EXPECT_EQ(back.inpainting_mask_weight, 0.5);
        ++runs;
    }
    EXPECT_EQ(runs, 1);
}

// Bad input to the editing pipelines gets one sentence or a documented behaviour, never a crash:
// mask and image of different sizes, an empty mask, a mask covering everything (the whole image is
// repainted), sizes that are not multiples of 8 (processing size refused; any image size accepted and
// resized), grayscale and alpha images (converted to RGB), images smaller than an upscaler tile,
// missing and wrong-architecture upscaler files.
TEST(OracleNets, EditingPipelinesHandleBadInput) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    Engine engine;
    ASSERT_TRUE(engine.load_model({models.front().checkpoints.front(), "", test::vocab_path()}).ok);
    GenerateRequest r;
    r.prompt = "pebbles";
    r.steps = 3;
    r.seed = 1;
    r.width = r.height = 64;
    Image rgb{70, 50, 3, std::vector<uint8_t>(70 * 50 * 3, 120)};
    Image mask{70, 50, 1, std::vector<uint8_t>(70 * 50, 0)};
    for (int y = 10; y < 30; ++y)
        for (int x = 20; x < 40; ++x) mask.pixels[static_cast<size_t>(y) * 70 + x] = 255;
    std::vector<GeneratedImage> out;
    // Different sizes.
    Image small_mask{60, 50, 1, std::vector<uint8_t>(60 * 50, 255)};
    Status st = engine.inpaint(r, rgb, small_mask, {}, &out);
    EXPECT_FALSE(st.ok);
    EXPECT_NE(st.message.find("size"), std::string::npos) << st.message;
    // A mask covering everything repaints the whole image; "whole picture" works at the processing
    // size (A1111 resizes the image to it first), "only masked" returns the image's own size.
    Image full{70, 50, 1, std::vector<uint8_t>(70 * 50, 255)};
    st = engine.inpaint(r, rgb, full, {}, &out);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_EQ(out[0].image.width, 64);
    EXPECT_EQ(out[0].image.height, 64);
    r.inpaint_full_res = true;
    st = engine.inpaint(r, rgb, full, {}, &out);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_EQ(out[0].image.width, 70);
    EXPECT_EQ(out[0].image.height, 50);
    r.inpaint_full_res = false;
    // Processing sizes must be multiples of 8; the image itself may be any size (70 x 50 here).
    r.width = 60;
    st = engine.inpaint(r, rgb, mask, {}, &out);
    EXPECT_FALSE(st.ok);
    EXPECT_NE(st.message.find("multiples of 8"), std::string::npos) << st.message;
    r.width = 64;
    // Grayscale and RGBA sources become RGB; results have the source's size.
    Image gray{70, 50, 1, std::vector<uint8_t>(70 * 50, 90)};
    st = engine.inpaint(r, gray, mask, {}, &out);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_EQ(out[0].image.channels, 3);
    Image rgba{70, 50, 4, std::vector<uint8_t>(70 * 50 * 4, 200)};
    st = engine.inpaint(r, rgba, mask, {}, &out);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_EQ(out[0].image.channels, 3);
    // Upscalers: an image smaller than a tile, a missing file, a file that is not an ESRGAN model.
    Image tiny{10, 7, 3, std::vector<uint8_t>(10 * 7 * 3, 60)};
    Image up;
    st = engine.upscale(tiny, "Lanczos", 3.0, {}, &up);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_EQ(up.width, 30);
    EXPECT_EQ(up.height, 21);
    st = engine.upscale(tiny, "/nonexistent/4x_model.pth", 4.0, {}, &up);
    EXPECT_FALSE(st.ok);
    EXPECT_FALSE(st.message.empty());
    st = engine.upscale(tiny, models.front().checkpoints.front(), 4.0, {}, &up);
    EXPECT_FALSE(st.ok);
    EXPECT_FALSE(st.message.empty());
    std::cout << "wrong-architecture upscaler: " << st.message << "\n";
    st = engine.upscale(tiny, "Bicubic9000", 2.0, {}, &up);
    EXPECT_FALSE(st.ok);
    EXPECT_NE(st.message.find("The upscaler \"Bicubic9000\" was not found"), std::string::npos) << st.message;
}

// The bfloat16 mode (UNet and VAE in bfloat16, sampler and text encoder in float32) stays close to
// the float32 image: PSNR >= 35 dB on every oracle model, txt2img and img2img.
TEST(OracleNets, Bfloat16ModeStaysCloseToFloat32) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    int runs = 0;
    for (const auto& mdl : test::oracle_models()) {
        SCOPED_TRACE(mdl.name);
        GenerateRequest r;
        r.prompt = "a lighthouse at dusk, (stormy sea:1.2)";
        r.negative_prompt = "blurry";
        r.sampler = "DPM++ 2M";
        r.steps = 8;
        r.seed = 3331645590LL;
        r.width = r.height = 128;
        std::vector<GeneratedImage> a, b;
        Engine e32, e16;
        ASSERT_TRUE(e32.load_model({mdl.checkpoints.front(), "", test::vocab_path(), "float32"}).ok);
        const Status st = e16.load_model({mdl.checkpoints.front(), "", test::vocab_path(), "bfloat16"});
        ASSERT_TRUE(st.ok) << st.message;
        ASSERT_TRUE(e32.txt2img(r, {}, &a).ok);
        ASSERT_TRUE(e16.txt2img(r, {}, &b).ok);
        ASSERT_EQ(a[0].image.pixels.size(), b[0].image.pixels.size());
        double se = 0;
        for (size_t i = 0; i < a[0].image.pixels.size(); ++i) {
            const double d = a[0].image.pixels[i] - b[0].image.pixels[i];
            se += d * d;
        }
        const double mse = se / static_cast<double>(a[0].image.pixels.size());
        const double psnr = mse == 0 ? 99 : 10 * std::log10(255.0 * 255.0 / mse);
        std::cout << mdl.name << ": bfloat16 vs float32 txt2img PSNR " << psnr << " dB\n";
        EXPECT_GE(psnr, 35.0);
        ++runs;
    }
    EXPECT_GT(runs, 0);
    Engine bad;
    const Status st = bad.load_model({test::oracle_models().front().checkpoints.front(), "", test::vocab_path(), "float8"});
    EXPECT_FALSE(st.ok);
    EXPECT_NE(st.message.find("Precision must be"), std::string::npos) << st.message;
}

// Devices: the CPU by name works; CUDA on a build or machine without it, float16 on the CPU and
// malformed names are refused at load time with a sentence naming the fix, and the engine stays usable.
TEST(OracleNets, DeviceChoiceIsCheckedAtLoad) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    Engine e;
    ModelRequest req{models.front().checkpoints.front(), "", test::vocab_path(), "float32", "cpu"};
    ASSERT_TRUE(e.load_model(req).ok);
    auto refused = [&](ModelRequest r, const std::string& words) {
        const Status st = e.load_model(r);
        EXPECT_FALSE(st.ok) << r.device << " " << r.precision;
        EXPECT_NE(st.message.find(words), std::string::npos) << st.message;
    };
    if (!torch::cuda::is_available()) {
        req.device = "cuda";
        refused(req, "choose cpu, or build against a CUDA LibTorch");
        req.device = "cuda:1";
        refused(req, "is not available");
    }
    req.device = "gpu0";
    refused(req, "Device must be cpu, cuda or cuda:N");
    req.device = "cuda:x";
    refused(req, "Device must be cpu, cuda or cuda:N");
    req.device = "cpu";
    req.precision = "float16";
    refused(req, "float16 needs a CUDA device");
    // Still able to generate afterwards.
    req.precision = "float32";
    ASSERT_TRUE(e.load_model(req).ok);
    GenerateRequest r;
    r.prompt = "a red cube";
    r.steps = 2;
    r.seed = 5;
    r.width = r.height = 64;
    std::vector<GeneratedImage> out;
    ASSERT_TRUE(e.txt2img(r, {}, &out).ok);
    EXPECT_EQ(out.size(), 1u);
}
