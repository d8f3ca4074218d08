// A1111's Loopback script: its denoising curves against CPython's values of its formula, the seeds
// and strengths of every call and which images it keeps, its parameters-text keys, the checks.
#include <gtest/gtest.h>

#include "loopback.h"
#include "request.h"
#include "status.h"
#include "text/infotext.h"
#include "wire.h"

using namespace sdgimp;

namespace {

std::string error_of(const LoopbackSettings& s) {
    try {
        validate_loopback(s);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

// Expected values: A1111 1.10's calculate_denoising_strength run in CPython 3.11 (repr of each float).
TEST(Loopback, CurvesEqualA1111sFormulaInPython) {
    LoopbackSettings s;
    s.loops = 5;
    s.final_denoising_strength = 0.65;
    const std::vector<std::pair<std::string, std::vector<double>>> want = {
        {"Linear", {0.3, 0.3875, 0.475, 0.5625, 0.65}},
        {"Aggressive", {0.3, 0.4339392013277814, 0.5474873734152916, 0.6233578363789504, 0.65}},
        {"Lazy", {0.3, 0.32664216362104964, 0.4025126265847083, 0.5160607986722185, 0.6499999999999999}}};
    for (const auto& [curve, values] : want) {
        s.curve = curve;
        for (int i = 0; i < 5; ++i) EXPECT_EQ(loopback_strength(0.3, s, i), values[static_cast<size_t>(i)]) << curve << " " << i;
    }
    s.loops = 3;
    s.final_denoising_strength = 0.2;
    s.curve = "Lazy";
    EXPECT_EQ(loopback_strength(0.75, s, 1), 0.5889087296526012);
    EXPECT_EQ(loopback_strength(0.75, s, 2), 0.20000000000000007);
    s.loops = 1;
    EXPECT_EQ(loopback_strength(0.75, s, 0), 0.75);
}

// Seeds go up by one per image across batches; each batch starts from the original image at the
// run's strength; one batch keeps every loop's image, several keep each batch's last.
TEST(Loopback, StepsSeedsAndKeptImages) {
    LoopbackSettings s;
    s.loops = 3;
    s.final_denoising_strength = 0.6;
    s.curve = "Linear";
    auto steps = loopback_steps(100, 0.4, s);
    ASSERT_EQ(steps.size(), 3u);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(steps[static_cast<size_t>(i)].seed, 100 + i);
        EXPECT_TRUE(steps[static_cast<size_t>(i)].kept);
        EXPECT_EQ(steps[static_cast<size_t>(i)].first_of_batch, i == 0);
    }
    EXPECT_EQ(steps[1].denoising_strength, 0.5 * (0.6 - 0.4) + 0.4);
    EXPECT_EQ(steps[2].denoising_strength, 1.0 * (0.6 - 0.4) + 0.4);
    s.batch_count = 2;
    steps = loopback_steps(7, 0.4, s);
    ASSERT_EQ(steps.size(), 6u);
    EXPECT_EQ(steps[3].seed, 10);
    EXPECT_TRUE(steps[3].first_of_batch);
    EXPECT_EQ(steps[3].denoising_strength, 0.4);
    std::vector<int64_t> kept;
    for (const auto& st : steps)
        if (st.kept) kept.push_back(st.seed);
    EXPECT_EQ(kept, (std::vector<int64_t>{9, 12}));
}

// Its keys come first among the run's own, as the script sets them before processing.
TEST(Loopback, ParametersTextKeys) {
    LoopbackSettings s;
    s.final_denoising_strength = 1.0;
    s.curve = "Aggressive";
    EXPECT_EQ(loopback_info(s), (std::vector<std::pair<std::string, std::string>>{{"Final denoising strength", "1"}, {"Denoising curve", "Aggressive"}}));
    s.final_denoising_strength = 0.35;
    GenerateRequest r;
    r.prompt = "a lake";
    r.script_info = loopback_info(s);
    r.denoising_strength = 0.3;
    r.vae_encode_method = "TAESD";
    ModelIdentity id;
    id.lora_hashes = "x: 0123456789ab";
    const std::string text = text::create_infotext(generation_info(r, id, 3, 4, true));
    EXPECT_NE(text.find("Denoising strength: 0.3, Final denoising strength: 0.35, Denoising curve: Aggressive, VAE Encoder: TAESD, "
                        "Lora hashes: \"x: 0123456789ab\""),
              std::string::npos)
        << text;
    EXPECT_EQ(wire::request_from_json(wire::request_to_json(r)).script_info, r.script_info);
}

TEST(Loopback, Checks) {
    LoopbackSettings s;
    s.curve = "Steep";
    EXPECT_EQ(error_of(s), "The denoising curve must be \"Aggressive\", \"Linear\" or \"Lazy\", not \"Steep\".");
    s.curve = "Linear";
    s.loops = 0;
    EXPECT_EQ(error_of(s), "Loopback runs 1 to 32 loops (A1111's slider).");
    s.loops = 2;
    s.final_denoising_strength = 1.5;
    EXPECT_EQ(error_of(s), "The final denoising strength must be between 0 and 1.");
    s.final_denoising_strength = 0.5;
    EXPECT_EQ(error_of(s), "");
    s.append_interrogation = "DeepBooru";
    EXPECT_EQ(error_of(s), "");
    s.append_interrogation = "CLIP";
    EXPECT_EQ(error_of(s), "Loopback cannot append a CLIP interrogation (GIMP Diffusion has no CLIP interrogator); choose DeepBooru or None.");
    s.append_interrogation = "BLIP";
    EXPECT_EQ(error_of(s), "Append interrogated prompt must be \"None\" or \"DeepBooru\", not \"BLIP\".");
}

// A1111's p.prompt = f"{original_prompt}, " if original_prompt else "", then the interrogation.
TEST(Loopback, InterrogatedPrompt) {
    EXPECT_EQ(loopback_prompt("oil painting", "1girl, smile"), "oil painting, 1girl, smile");
    EXPECT_EQ(loopback_prompt("", "1girl, smile"), "1girl, smile");
    EXPECT_EQ(loopback_prompt("oil painting", ""), "oil painting, ");
}
