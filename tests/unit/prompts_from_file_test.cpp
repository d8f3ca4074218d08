// A1111's "Prompts from file or textbox" script: Python's shlex.split (values CPython gives), its
// cmdargs over a line (prompt words joined, int/float conversions as Python's, a line it cannot read
// taken whole as the prompt), and each line's request (tags set on a copy of the base, the prompts
// joined at the start or the end).
#include <gtest/gtest.h>

#include "prompts_from_file.h"
#include "status.h"
#include "support/error_text.h"

using namespace sdgimp;

namespace {

using test::error_of;

}  // namespace

TEST(PromptsFromFile, ShlexSplitsAsPython) {
    using V = std::vector<std::string>;
    EXPECT_EQ(shlex_split(R"(--prompt "a cat" on a mat --steps 30)"), (V{"--prompt", "a cat", "on", "a", "mat", "--steps", "30"}));
    EXPECT_EQ(shlex_split("--negative_prompt 'bad hands' --seed 5"), (V{"--negative_prompt", "bad hands", "--seed", "5"}));
    EXPECT_EQ(shlex_split(R"(a\ b "c\"d" "e\f" \\g \'h\' x""y)"), (V{"a b", "c\"d", "e\\f", "\\g", "'h'", "xy"}));
    EXPECT_EQ(shlex_split("''  \"\""), (V{"", ""}));
    EXPECT_EQ(shlex_split(R"("ab\\"cd)"), (V{"ab\\cd"}));
    EXPECT_EQ(shlex_split("a\tb\r\nc"), (V{"a", "b", "c"}));
    EXPECT_EQ(shlex_split("   "), V{});
    EXPECT_EQ(error_of([] { shlex_split("\"open"); }), "No closing quotation");
    EXPECT_EQ(error_of([] { shlex_split("tail\\"); }), "No escaped character");
}

TEST(PromptsFromFile, LinesAsCmdargsReadsThem) {
    const auto lines = prompt_lines(
        "  a plain prompt  \n\n"
        "--prompt \"a cat\" on a mat --negative_prompt blurry --steps 1_0 --cfg_scale .5e1 --seed -7\r\n"
        "--prompt x --steps 12.0\n"          // int("12.0") fails: the whole line is the prompt
        "--prompt y --colour red\n"          // an unknown option, likewise
        "--prompt \"unclosed\n"
        "--sd_model nowhere --prompt z\n"    // no such checkpoint
        "a prompt -- with dashes\n"
        "--prompt p --seed 1 --seed 2\n",
        [](const std::string& name) { return name == "other"; });
    ASSERT_EQ(lines.size(), 8u);
    EXPECT_TRUE(lines[0].whole_prompt);
    EXPECT_EQ(lines[0].tags, (std::vector<std::pair<std::string, std::string>>{{"prompt", "a plain prompt"}}));
    EXPECT_FALSE(lines[1].whole_prompt);
    EXPECT_EQ(lines[1].tags, (std::vector<std::pair<std::string, std::string>>{
                                 {"prompt", "a cat on a mat"}, {"negative_prompt", "blurry"}, {"steps", "1_0"}, {"cfg_scale", ".5e1"}, {"seed", "-7"}}));
    for (size_t i : {2, 3, 4, 5, 6}) {
        EXPECT_TRUE(lines[i].whole_prompt) << i;
        EXPECT_EQ(lines[i].tags.at(0).second, lines[i].text) << i;
    }
    EXPECT_EQ(lines[2].why_whole, "invalid literal for int() with base 10: '12.0'");
    EXPECT_EQ(lines[3].why_whole, "unknown commandline option: --colour");
    EXPECT_EQ(lines[4].why_whole, "No closing quotation");
    EXPECT_EQ(lines[5].why_whole, "Unknown checkpoint: nowhere");
    EXPECT_EQ(lines[6].why_whole, "must start with \"--\": a");
    EXPECT_EQ(lines[7].tags, (std::vector<std::pair<std::string, std::string>>{{"prompt", "p"}, {"seed", "2"}}));
    EXPECT_FALSE(prompt_lines("--sd_model other --prompt q", [](const std::string& n) { return n == "other"; })[0].whole_prompt);
}

TEST(PromptsFromFile, EachLineSetsItsRequest) {
    GenerateRequest base;
    base.prompt = "masterpiece";
    base.negative_prompt = "lowres";
    base.seed = 100;
    base.steps = 20;
    const auto lines = prompt_lines("--prompt a castle --negative_prompt fog --steps 1_0 --cfg_scale .5e1 --seed -7 --sampler_name \"dpm++ 2m\" "
                                    "--width 640 --height 384 --n_iter 3 --batch_size 2 --tiling true --styles Film --subseed 9 "
                                    "--subseed_strength 0.25 --sd_model other\n"
                                    "a lighthouse\n"
                                    "--restore_faces true --prompt b\n",
                                    [](const std::string& n) { return n == "other"; });
    std::string checkpoint;
    std::vector<std::string> unused;
    const GenerateRequest r = prompt_line_request(base, lines[0], "start", &checkpoint, &unused);
    EXPECT_EQ(r.prompt, "a castle masterpiece");
    EXPECT_EQ(r.negative_prompt, "fog lowres");
    EXPECT_EQ(r.steps, 10);
    EXPECT_DOUBLE_EQ(r.cfg_scale, 5.0);
    EXPECT_EQ(r.seed, -7);
    EXPECT_EQ(r.sampler, "DPM++ 2M");
    EXPECT_EQ(r.width, 640);
    EXPECT_EQ(r.height, 384);
    EXPECT_EQ(r.batch_count, 3);
    EXPECT_EQ(r.batch_size, 2);
    EXPECT_TRUE(r.tiling);
    EXPECT_EQ(r.subseed, 9);
    EXPECT_DOUBLE_EQ(r.subseed_strength, 0.25);
    EXPECT_EQ(checkpoint, "other");
    EXPECT_EQ(unused, std::vector<std::string>{"styles"});
    const GenerateRequest plain = prompt_line_request(base, lines[1], "end", &checkpoint, &unused);
    EXPECT_EQ(plain.prompt, "masterpiece a lighthouse");
    EXPECT_EQ(plain.negative_prompt, "lowres");
    EXPECT_EQ(plain.seed, 100);
    GenerateRequest empty_base = base;
    empty_base.prompt.clear();
    EXPECT_EQ(prompt_line_request(empty_base, lines[1], "start", nullptr, nullptr).prompt, "a lighthouse");
    // --restore_faces true: A1111's default restorer, or the one the run already has; false: none.
    EXPECT_EQ(prompt_line_request(base, lines[2], "start", nullptr, nullptr).face_restoration, "CodeFormer");
    GenerateRequest gfpgan_base = base;
    gfpgan_base.face_restoration = "GFPGAN";
    EXPECT_EQ(prompt_line_request(gfpgan_base, lines[2], "start", nullptr, nullptr).face_restoration, "GFPGAN");
    const auto off = prompt_lines("--restore_faces false --prompt b\n", nullptr);
    EXPECT_EQ(prompt_line_request(gfpgan_base, off[0], "start", nullptr, nullptr).face_restoration, "");
    EXPECT_EQ(error_of([&] { prompt_line_request(base, lines[1], "middle", nullptr, nullptr); }),
              "Prompts from a list go at the \"start\" or the \"end\" of the prompt, not \"middle\".");
    // samplers_map's old aliases.
    const auto aliased = prompt_lines("--sampler_name k_euler_a --prompt c\n--sampler_name K_DPMPP_2M_SDE --prompt d\n", nullptr);
    EXPECT_EQ(prompt_line_request(base, aliased[0], "end", nullptr, nullptr).sampler, "Euler a");
    EXPECT_EQ(prompt_line_request(base, aliased[1], "end", nullptr, nullptr).sampler, "DPM++ 2M SDE");
    // A name samplers_map lacks (an old name with its schedule too) maps to None there, and A1111's
    // fix_p_invalid_sampler_and_scheduler runs its first sampler with the schedule left as it was.
    const auto unknown = prompt_lines("--sampler_name \"DPM++ 2M Karras\" --prompt e\n--sampler_name nope --prompt f\n", nullptr);
    GenerateRequest karras_base = base;
    karras_base.sampler = "Euler";
    karras_base.schedule = "Exponential";
    for (const auto& line : unknown) {
        std::vector<std::string> unused;
        const GenerateRequest r = prompt_line_request(karras_base, line, "end", nullptr, &unused);
        EXPECT_EQ(r.sampler, "DPM++ 2M") << line.text;
        EXPECT_EQ(r.schedule, "Exponential") << line.text;
        EXPECT_EQ(unused, std::vector<std::string>{"sampler_name"}) << line.text;
    }
}
