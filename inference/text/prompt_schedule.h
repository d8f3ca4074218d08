// A1111's prompt editing: [from:to:when], [to:when], [from::when] and alternation [a|b], turned
// into a per-step schedule of plain prompts, as modules/prompt_parser does.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sdgimp::text {

struct ScheduleOptions {
    int steps = 20;                  // the pass's base steps
    std::optional<int> hires_steps;  // set for a hires pass
    bool use_old_scheduling = false; // "Use old prompt editing timelines"
};

// (end_at_step, text) pairs in increasing end_at_step; the last one equals the pass's step count.
// A model call with 0-based counter s uses the first entry whose end_at_step >= s.
using PromptSchedule = std::vector<std::pair<int, std::string>>;

// Never throws: text the grammar does not accept becomes one entry with the prompt unchanged.
PromptSchedule prompt_schedule(const std::string& prompt, const ScheduleOptions& opt);

// The text of a schedule for a 0-based model-call counter.
const std::string& schedule_text_at(const PromptSchedule& s, int call);

}  // namespace sdgimp::text
