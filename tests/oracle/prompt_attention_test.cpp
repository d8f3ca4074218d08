// A1111's emphasis parser against oracle/text/attention.json (exact fragments and weights).
#include <gtest/gtest.h>

#include <clocale>

#include "status.h"
#include "support/oracle.h"
#include "text/prompt_attention.h"

using namespace sdgimp;

TEST(OracleText, PromptAttention) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto data = test::read_json(test::oracle_dir() + "/text/attention.json");
    ASSERT_FALSE(data["cases"].empty());
    for (const auto& c : data["cases"]) {
        const std::string t = c["text"].get<std::string>();
        SCOPED_TRACE(c["id"].get<std::string>() + ": " + t);
        if (c.contains("error")) {
            EXPECT_THROW(text::parse_prompt_attention(t), Error);
            continue;
        }
        auto got = text::parse_prompt_attention(t);
        const auto& want = c["parsed"];
        ASSERT_EQ(got.size(), want.size());
        for (size_t i = 0; i < got.size(); ++i) {
            EXPECT_EQ(got[i].text, want[i][0].get<std::string>());
            EXPECT_EQ(got[i].weight, want[i][1].get<double>());
        }
    }
}
