// CLIP BPE tokenization against oracle/text/tokenize.json, both conventions.
#include <gtest/gtest.h>

#include <clocale>

#include "support/oracle.h"
#include "text/clip_tokenizer.h"

using namespace sdgimp;

namespace {
std::string vocab_path() {
    if (const char* e = std::getenv("GIMP_DIFFUSION_VOCAB"); e && *e) return e;
    return test::oracle_dir() + "/../vocab/bpe_simple_vocab_16e6.txt.gz";
}
bool is_ascii(const std::string& s) {
    for (unsigned char c : s) if (c >= 0x80) return false;
    return true;
}
}  // namespace

TEST(OracleText, Tokenize) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    text::ClipTokenizer tok(vocab_path());
    const auto data = test::read_json(test::oracle_dir() + "/text/tokenize.json");
    int ascii_cases = 0, unicode_pass = 0, unicode_total = 0;
    for (const auto& c : data["cases"]) {
        const std::string t = c["text"].get<std::string>();
        const auto sd2 = tok.encode(t, text::TokenizerFlavor::kOpenCLIP);
        const auto sd1 = tok.encode(t, text::TokenizerFlavor::kHF);
        const bool ok = sd2 == c["ids"].get<std::vector<int>>() && sd1 == c["ids_sd1"].get<std::vector<int>>();
        // Every case exact: ASCII, and non-ASCII (mojibake, full-width, ligatures, final sigma, NFD, scripts).
        EXPECT_TRUE(ok) << c["id"] << " " << t;
        if (is_ascii(t)) ++ascii_cases;
        else ++unicode_total, unicode_pass += ok;
    }
    std::cout << "ascii cases: " << ascii_cases << "; non-ascii: " << unicode_pass << "/" << unicode_total << " exact\n";
    EXPECT_GT(ascii_cases, 0);
    EXPECT_GT(unicode_total, 0);
}
