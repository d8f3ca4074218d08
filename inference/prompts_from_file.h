// A1111's "Prompts from file or textbox" script: every non-empty line (stripped) runs once, as the
// prompt, or as "--tag value" options when it holds "--" and its cmdargs reads it (shlex.split's
// POSIX rules; a line it cannot read is taken whole as the prompt, as there).
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "request.h"

namespace sdgimp {

// Python's shlex.split(s) (POSIX mode, no comments). Throws sdgimp::Error (kInvalidRequest) for
// "No closing quotation" and "No escaped character", as Python raises ValueError.
std::vector<std::string> shlex_split(const std::string& s);

struct PromptLine {
    std::string text;  // the stripped line
    // The tags cmdargs read (prompt / negative_prompt joined as it joins them), in order; empty
    // with `whole_prompt`.
    std::vector<std::pair<std::string, std::string>> tags;
    bool whole_prompt = true;  // the line is the prompt (no "--", or cmdargs failed on it)
    std::string why_whole;     // cmdargs's complaint when it failed
};

// The lines of a text as the script takes them. known_checkpoint tells whether "--sd_model NAME"
// names a checkpoint (A1111's process_model_tag fails the line otherwise); unset: none does.
std::vector<PromptLine> prompt_lines(const std::string& text,
                                     const std::function<bool(const std::string&)>& known_checkpoint = {});

// The request of one line: `base` with each tag set as A1111's setattr sets it, the line's prompt
// (and negative prompt) put before or after the base's ("start" / "end", joined by a space) when
// both have one. *checkpoint gets a --sd_model value; *unused the tags this run has no use for
// (output paths, saving switches, sampler_index, styles, which A1111 sets as a string it then
// reads letter by letter; a sampler_name that names no sampler, for which A1111 and this run take
// DPM++ 2M). --restore_faces true restores faces with the base's restorer (CodeFormer when it has none).
GenerateRequest prompt_line_request(const GenerateRequest& base, const PromptLine& line, const std::string& position,
                                    std::string* checkpoint, std::vector<std::string>* unused);

}  // namespace sdgimp
