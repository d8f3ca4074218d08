// A1111's prompt styles (styles.csv): named prompt / negative-prompt texts merged into a prompt,
// "{prompt}" marking where the prompt goes, else appended after ", ". The parameters text records
// the merged prompts, so a style only changes what the prompt boxes hold.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace sdgimp::text {

struct PromptStyle {
    std::string name, prompt, negative_prompt;
};

// The rows of a styles CSV as A1111 reads it (Python's csv.DictReader over the header row
// name,prompt,negative_prompt, or the old name,text; spaces after commas skipped, quoted fields
// with "" and line breaks, a UTF-8 byte-order mark, blank lines and names starting with '#'
// skipped; a later row of the same name replaces the earlier one in its place).
// Throws sdgimp::Error naming the file when it cannot be read or has no prompt column.
std::vector<PromptStyle> read_styles_csv(const std::string& path);
std::vector<PromptStyle> parse_styles_csv(const std::string& text, const std::string& path_for_errors);

// Python's str.strip() (Unicode whitespace at both ends).
std::string py_strip(const std::string& s);

// merge_prompts: style with "{prompt}" replaced by the prompt, or "prompt, style" of the stripped
// non-empty ones.
std::string merge_style(const std::string& style_text, const std::string& prompt);

// The styles applied in order to the prompt and to the negative prompt.
std::pair<std::string, std::string> apply_styles(const std::vector<PromptStyle>& styles, const std::string& prompt,
                                                 const std::string& negative_prompt);

// The same on a run's four prompts: the hires ones only when not empty (an empty one follows the
// styled prompt, as A1111's do).
void apply_styles_to_run(const std::vector<PromptStyle>& styles, std::string* prompt, std::string* negative_prompt,
                         std::string* hr_prompt, std::string* hr_negative_prompt);

// The style of that name, or nullptr.
const PromptStyle* find_style(const std::vector<PromptStyle>& styles, const std::string& name);

}  // namespace sdgimp::text
