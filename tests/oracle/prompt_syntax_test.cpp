// Prompt → chunks, AND composition and extra-network tags against oracle/text (exact).
#include <gtest/gtest.h>

#include <clocale>

#include "support/oracle.h"
#include "support/vocab.h"
#include "status.h"
#include "text/extra_networks.h"
#include "text/multicond.h"
#include "text/prompt_chunks.h"
#include "text/prompt_schedule.h"

using namespace sdgimp;
using nlohmann::json;

namespace {

void expect_chunks(const text::ChunkedPrompt& got, const json& want) {
    ASSERT_FALSE(want.contains("error"));
    EXPECT_EQ(got.token_count, want["token_count"].get<int>());
    ASSERT_EQ(got.chunks.size(), want["chunks"].size());
    for (size_t k = 0; k < got.chunks.size(); ++k) {
        const auto& w = want["chunks"][k];
        EXPECT_EQ(got.chunks[k].tokens, w["tokens"].get<std::vector<int>>()) << "chunk " << k;
        EXPECT_EQ(got.chunks[k].multipliers, w["multipliers"].get<std::vector<double>>()) << "chunk " << k;
        EXPECT_EQ(got.chunks[k].transformer_tokens, w["transformer_tokens"].get<std::vector<int>>()) << "chunk " << k;
    }
}

}  // namespace

TEST(OracleText, Chunks) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    text::ClipTokenizer tok(test::vocab_path());
    const auto data = test::read_json(test::oracle_dir() + "/text/chunks.json");
    ASSERT_FALSE(data["cases"].empty());
    for (const auto& c : data["cases"]) {
        const std::string prompt = c["prompt"];
        SCOPED_TRACE(c["id"].get<std::string>() + ": " + prompt.substr(0, 80));
        for (const char* fam : {"sd2", "sd1"}) {
            SCOPED_TRACE(fam);
            text::ChunkSettings s;
            s.flavor = std::string(fam) == "sd2" ? text::TokenizerFlavor::kOpenCLIP : text::TokenizerFlavor::kHF;
            if (c[fam].contains("error")) {
                EXPECT_THROW(text::chunk_prompt(tok, prompt, s), Error);
            } else {
                expect_chunks(text::chunk_prompt(tok, prompt, s), c[fam]);
            }
            s.emphasis = text::EmphasisMode::kNone;
            expect_chunks(text::chunk_prompt(tok, prompt, s), c["emphasis_none"][fam]);
        }
    }
}

TEST(OracleText, MultiCond) {
    const auto data = test::read_json(test::oracle_dir() + "/text/multicond.json");
    ASSERT_FALSE(data["cases"].empty());
    for (const auto& c : data["cases"]) {
        SCOPED_TRACE(c["id"].get<std::string>());
        const auto b = text::multicond_batch(c["prompts"].get<std::vector<std::string>>());
        EXPECT_EQ(b.flat, c["flat_prompts"].get<std::vector<std::string>>());
        ASSERT_EQ(b.indexes.size(), c["res_indexes"].size());
        for (size_t i = 0; i < b.indexes.size(); ++i) {
            const auto& want = c["res_indexes"][i];
            ASSERT_EQ(b.indexes[i].size(), want.size());
            for (size_t k = 0; k < want.size(); ++k) {
                EXPECT_EQ(b.indexes[i][k].first, want[k][0].get<int>());
                EXPECT_EQ(b.indexes[i][k].second, want[k][1].get<double>());
            }
        }
        for (const auto& [text, idx] : c["flat_index"].items()) {
            auto it = std::find(b.flat.begin(), b.flat.end(), text);
            ASSERT_NE(it, b.flat.end());
            EXPECT_EQ(it - b.flat.begin(), idx.get<int>());
        }
    }
}

TEST(OracleText, ExtraNetworks) {
    const auto data = test::read_json(test::oracle_dir() + "/text/extra_networks.json");
    ASSERT_FALSE(data["cases"].empty());
    for (const auto& c : data["cases"]) {
        SCOPED_TRACE(c["id"].get<std::string>() + ": " + c["prompt"].get<std::string>());
        const auto got = text::parse_extra_networks(c["prompt"]);
        EXPECT_EQ(got.stripped, c["stripped"].get<std::string>());
        ASSERT_EQ(got.networks.size(), c["networks"].size());
        for (const auto& [name, calls] : got.networks) {
            ASSERT_TRUE(c["networks"].contains(name)) << name;
            const auto& want = c["networks"][name];
            ASSERT_EQ(calls.size(), want.size());
            for (size_t k = 0; k < calls.size(); ++k) {
                EXPECT_EQ(calls[k].items, want[k]["items"].get<std::vector<std::string>>());
                EXPECT_EQ(calls[k].positional, want[k]["positional"].get<std::vector<std::string>>());
                EXPECT_EQ(calls[k].named, (want[k]["named"].get<std::map<std::string, std::string>>()));
            }
        }
    }
}

TEST(OracleText, PromptEditingSchedules) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto data = test::read_json(test::oracle_dir() + "/text/schedules.json");
    ASSERT_FALSE(data["cases"].empty());
    int failures = 0;
    for (const auto& c : data["cases"]) {
        text::ScheduleOptions o;
        o.steps = c["steps"];
        if (!c["hires_steps"].is_null()) o.hires_steps = c["hires_steps"].get<int>();
        o.use_old_scheduling = c["use_old_scheduling"];
        const auto got = text::prompt_schedule(c["prompt"], o);
        json got_json = json::array();
        for (const auto& [t, s] : got) got_json.push_back(json::array({t, s}));
        bool ok;
        if (c["schedule"].is_null()) {
            ok = false;
            for (const auto& alt : c["nondeterministic_outcomes"]) ok = ok || alt == got_json;
        } else {
            ok = c["schedule"] == got_json;
        }
        if (!ok) ++failures;
        EXPECT_TRUE(ok) << c["id"] << " " << c["prompt"] << " steps " << o.steps << "\n got  " << got_json.dump()
                        << "\n want " << c["schedule"].dump();
    }
    EXPECT_EQ(failures, 0);
}
