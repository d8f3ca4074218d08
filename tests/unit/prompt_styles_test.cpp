// A1111's styles.csv: Python's csv.DictReader rules for the file, merge_prompts for the texts.
#include <gtest/gtest.h>

#include <cstdio>
#include <unistd.h>

#include "status.h"
#include "text/prompt_styles.h"

using namespace sdgimp;

TEST(PromptStyles, MergeAsA1111) {
    // "{prompt}" takes the prompt as it is, every occurrence.
    EXPECT_EQ(text::merge_style("cinematic still of {prompt}, film grain", " a cat "), "cinematic still of  a cat , film grain");
    EXPECT_EQ(text::merge_style("{prompt} | {prompt}", "x"), "x | x");
    // Otherwise both stripped, empty ones left out, joined by ", ".
    EXPECT_EQ(text::merge_style("  masterpiece, best quality ", " a cat\n"), "a cat, masterpiece, best quality");
    EXPECT_EQ(text::merge_style("masterpiece", "   "), "masterpiece");
    EXPECT_EQ(text::merge_style("", " a cat "), "a cat");
    EXPECT_EQ(text::merge_style("", ""), "");
    EXPECT_EQ(text::merge_style("ukiyo-e", "a cat\xE3\x80\x80"), "a cat, ukiyo-e");  // Python strips U+3000 too
    // Applied in order to each prompt.
    const std::vector<text::PromptStyle> styles = {{"a", "{prompt}, sharp", "blurry"}, {"b", "photo of {prompt}", ""}};
    const auto [p, n] = text::apply_styles(styles, "a dog", "ugly");
    EXPECT_EQ(p, "photo of a dog, sharp");
    EXPECT_EQ(n, "ugly, blurry");
}

TEST(PromptStyles, CsvAsPythonReadsIt) {
    const std::string csv =
        "\xEF\xBB\xBFname,prompt,negative_prompt\r\n"
        "Cinematic, \"cinematic still of {prompt}, film grain\", \"cartoon, \"\"anime\"\"\"\r\n"
        "\r\n"
        "# a comment,ignored,ignored\r\n"
        "Multi,\"line one\nline two\",\n"
        "Short,only a prompt\n"
        "Cinematic,replaced,in place\n"
        "Odd,ab\"c\"d,\"q\"tail\n"
        "Last,no newline at the end,x";
    const auto styles = text::parse_styles_csv(csv, "styles.csv");
    ASSERT_EQ(styles.size(), 5u);
    EXPECT_EQ(styles[0].name, "Cinematic");  // the later row replaced it where it was
    EXPECT_EQ(styles[0].prompt, "replaced");
    EXPECT_EQ(styles[0].negative_prompt, "in place");
    EXPECT_EQ(styles[1].name, "Multi");
    EXPECT_EQ(styles[1].prompt, "line one\nline two");
    EXPECT_EQ(styles[1].negative_prompt, "");
    EXPECT_EQ(styles[2].name, "Short");
    EXPECT_EQ(styles[2].negative_prompt, "");
    EXPECT_EQ(styles[3].prompt, "ab\"c\"d");    // quotes inside an unquoted field are text
    EXPECT_EQ(styles[3].negative_prompt, "qtail");  // text after a closing quote is kept
    EXPECT_EQ(styles[4].negative_prompt, "x");
    // The first row before a replacement, as it was read.
    const auto first = text::parse_styles_csv("name,prompt,negative_prompt\nA, \"x, {prompt}\", \"y\"\n", "s.csv");
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first[0].prompt, "x, {prompt}");
    // The old two-column layout.
    const auto old = text::parse_styles_csv("name,text\nOld,old style\n", "old.csv");
    ASSERT_EQ(old.size(), 1u);
    EXPECT_EQ(old[0].prompt, "old style");
    EXPECT_TRUE(text::parse_styles_csv("", "empty.csv").empty());
}

TEST(PromptStyles, BadFilesAreOneSentence) {
    try {
        (void)text::parse_styles_csv("title,body\na,b\n", "other.csv");
        ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "other.csv: has no name and prompt columns; it is not an A1111 styles file.");
    }
    try {
        (void)text::parse_styles_csv("name,prompt\na,\"never closed\n", "cut.csv");
        ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("cut.csv: unexpected end of data inside a quoted field; the styles file is damaged."), std::string::npos)
            << e.what();
    }
    try {
        (void)text::read_styles_csv("/nonexistent/styles.csv");
        ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/styles.csv: cannot be read"), std::string::npos);
    }
    char path[] = "/tmp/gd-styles-XXXXXX";
    const int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    const std::string body = "name,prompt,negative_prompt\nFilm,\"{prompt}, film grain\",digital\n";
    ASSERT_EQ(::write(fd, body.data(), body.size()), static_cast<ssize_t>(body.size()));
    ::close(fd);
    const auto read = text::read_styles_csv(path);
    ::unlink(path);
    ASSERT_EQ(read.size(), 1u);
    EXPECT_EQ(read[0].negative_prompt, "digital");
}
