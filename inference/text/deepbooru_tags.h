// A1111's text of DeepDanbooru's tags (modules/deepbooru.py, 1.10: tag_multi after the model):
// which tags a picture's scores keep and how they are spelled in a prompt, under A1111's
// "deepbooru:" settings.
#pragma once

#include <string>
#include <vector>

namespace sdgimp::text {

// A1111's settings (Settings > Interrogate), at their 1.10 defaults.
struct DeepBooruOptions {
    double threshold = 0.5;        // "deepbooru: score threshold"; a tag scoring below it is left out
    bool sort_alpha = true;        // "sort tags alphabetically"; if not, by score (highest first)
    bool use_spaces = true;        // "use spaces in tags" instead of underscores
    bool escape = true;            // "escape (\) brackets", so they stay literal in a prompt
    bool include_ranks = false;    // "Include ranks of model tags matches in results": (tag:0.923)
    std::string filter_tags;       // "filter out those tags", comma-separated
};

// Throws sdgimp::Error with one sentence for a threshold outside 0-1.
void validate_deepbooru_options(const DeepBooruOptions& o);

// A1111's tag_multi after the model: tags scoring at least the threshold, "rating:" ones dropped,
// sorted, filtered, spelled as the options say, joined by ", ".
std::string deepbooru_text(const std::vector<std::string>& tags, const std::vector<float>& probabilities, const DeepBooruOptions& o);

}  // namespace sdgimp::text
