// A1111's composable diffusion: a prompt split on the word AND into weighted sub-prompts
// ("a cat :1.2 AND a dog"), with identical sub-prompts of a batch encoded once.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace sdgimp::text {

struct WeightedSubprompt {
    std::string text;
    double weight = 1.0;
};

std::vector<WeightedSubprompt> split_and(const std::string& prompt);

struct MultiCondBatch {
    std::vector<std::vector<std::pair<int, double>>> indexes;  // per prompt: (flat index, weight)
    std::vector<std::string> flat;                             // distinct sub-prompts, first-seen order
};

MultiCondBatch multicond_batch(const std::vector<std::string>& prompts);

}  // namespace sdgimp::text
