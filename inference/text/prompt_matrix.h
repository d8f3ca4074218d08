// A1111's "Prompt matrix" script: the prompt split at '|' into a fixed first part and variable
// parts, and one prompt for every subset of the variable parts (2^n of them), laid out as A1111
// lays out its grid.
#pragma once

#include <string>
#include <vector>

namespace sdgimp::text {

struct PromptMatrix {
    std::vector<std::string> parts;    // the text split at '|' (the first is in every prompt)
    std::vector<std::string> prompts;  // combination k holds variable part n when bit n of k is set
    int cols = 1, rows = 1;            // prompts fill the grid row by row
};

// put_at_start: the chosen variable parts before the fixed one (A1111's "Set at prompt start");
// joining: "comma" (", ") or "space" (" "). Throws sdgimp::Error (kInvalidRequest) for another
// joining or more than 10 variable parts (1024 images).
PromptMatrix prompt_matrix(const std::string& text, bool put_at_start, const std::string& joining);

}  // namespace sdgimp::text
