#include "prompt_matrix.h"

#include "../status.h"
#include "prompt_styles.h"

namespace sdgimp::text {

PromptMatrix prompt_matrix(const std::string& text, bool put_at_start, const std::string& joining) {
    if (joining != "comma" && joining != "space")
        throw Error(ErrorCode::kInvalidRequest, "The prompt matrix joins its parts with \"comma\" or \"space\", not \"" + joining + "\".");
    PromptMatrix m;
    size_t start = 0;
    for (size_t bar = text.find('|'); bar != std::string::npos; bar = text.find('|', start)) {
        m.parts.push_back(text.substr(start, bar - start));
        start = bar + 1;
    }
    m.parts.push_back(text.substr(start));
    const size_t variable = m.parts.size() - 1;
    if (variable > 10)
        throw Error(ErrorCode::kInvalidRequest, "A prompt matrix of " + std::to_string(variable) +
                                                    " variable parts makes 2^" + std::to_string(variable) +
                                                    " images; separate at most 10 parts with '|'.");
    const std::string delimiter = joining == "comma" ? ", " : " ";
    // Each variable part as A1111 takes it: text.strip().strip(','), so spaces inside stray commas stay.
    std::vector<std::string> cleaned;
    for (size_t n = 1; n < m.parts.size(); ++n) {
        std::string t = py_strip(m.parts[n]);
        const size_t b = t.find_first_not_of(','), e = t.find_last_not_of(',');
        cleaned.push_back(b == std::string::npos ? "" : t.substr(b, e - b + 1));
    }
    for (size_t k = 0; k < (size_t{1} << variable); ++k) {
        std::vector<std::string> chosen;
        for (size_t n = 0; n < variable; ++n)
            if (k & (size_t{1} << n)) chosen.push_back(cleaned[n]);
        if (put_at_start) chosen.push_back(m.parts[0]);
        else chosen.insert(chosen.begin(), m.parts[0]);
        std::string prompt;
        for (size_t i = 0; i < chosen.size(); ++i) prompt += (i ? delimiter : "") + chosen[i];
        m.prompts.push_back(prompt);
    }
    // images.image_grid(rows = 1 << (parts - 1) // 2): the first half of the variable parts (rounded
    // up) varies along a row, the rest down the columns.
    m.rows = 1 << (variable / 2);
    m.cols = static_cast<int>(m.prompts.size()) / m.rows;
    return m;
}

}  // namespace sdgimp::text
