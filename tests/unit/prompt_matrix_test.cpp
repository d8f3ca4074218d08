// A1111's Prompt matrix script: the prompts of every subset of the '|' parts (its
// text.strip().strip(',') of each variable part, the fixed part as written, the joining, "Set at
// prompt start"), the grid's rows and columns, and what it refuses. The expected values are what
// A1111's loop gives for these texts (run in CPython).
#include <gtest/gtest.h>

#include "status.h"
#include "text/prompt_matrix.h"

using namespace sdgimp;

TEST(PromptMatrix, CombinesThePartsAsA1111Does) {
    const auto m = text::prompt_matrix("a cat |in a hat| on a bike ,|, at night,", false, "comma");
    ASSERT_EQ(m.parts.size(), 4u);
    const std::vector<std::string> want = {"a cat ",
                                           "a cat , in a hat",
                                           "a cat , on a bike ",
                                           "a cat , in a hat, on a bike ",
                                           "a cat ,  at night",
                                           "a cat , in a hat,  at night",
                                           "a cat , on a bike ,  at night",
                                           "a cat , in a hat, on a bike ,  at night"};
    EXPECT_EQ(m.prompts, want);
    // 1 << (3 // 2) rows: the first two parts vary along a row, the third down the columns.
    EXPECT_EQ(m.rows, 2);
    EXPECT_EQ(m.cols, 4);
}

TEST(PromptMatrix, AtTheStartJoinedBySpaces) {
    // Python's strip() takes Unicode spaces (a no-break space here) before the commas go.
    const auto m = text::prompt_matrix("portrait| , smiling ,\u00a0|", true, "space");
    const std::vector<std::string> want = {"portrait", " smiling  portrait", " portrait", " smiling   portrait"};
    EXPECT_EQ(m.prompts, want);
    EXPECT_EQ(m.rows, 2);
    EXPECT_EQ(m.cols, 2);
}

TEST(PromptMatrix, WithoutBarsOneImage) {
    const auto m = text::prompt_matrix("no bars", false, "comma");
    EXPECT_EQ(m.prompts, std::vector<std::string>{"no bars"});
    EXPECT_EQ(m.rows, 1);
    EXPECT_EQ(m.cols, 1);
}

TEST(PromptMatrix, RefusesOtherJoiningAndHugeMatrices) {
    try {
        text::prompt_matrix("a|b", false, "tab");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "The prompt matrix joins its parts with \"comma\" or \"space\", not \"tab\".");
    }
    EXPECT_EQ(text::prompt_matrix("a|b|c|d|e|f|g|h|i|j|k", false, "comma").prompts.size(), 1024u);
    try {
        text::prompt_matrix("a|b|c|d|e|f|g|h|i|j|k|l", false, "comma");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "A prompt matrix of 11 variable parts makes 2^11 images; separate at most 10 parts with '|'.");
    }
}
