// A1111's emphasis syntax: "(a)", "(a:1.3)", "[a]", escapes and BREAK, parsed into
// (text, weight) fragments exactly as modules/prompt_parser.parse_prompt_attention does.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace sdgimp::text {

struct Fragment {
    std::string text;
    double weight;  // -1 marks a top-level BREAK
};

// Throws sdgimp::Error (kInvalidRequest) naming the bad weight, e.g. "(word:1.2.3)".
std::vector<Fragment> parse_prompt_attention(const std::string& prompt);

}  // namespace sdgimp::text
