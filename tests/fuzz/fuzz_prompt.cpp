// Every prompt-side parser on arbitrary bytes: none may crash, hang or throw anything but sdgimp::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "status.h"
#include "text/extra_networks.h"
#include "text/infotext.h"
#include "text/multicond.h"
#include "text/prompt_attention.h"
#include "text/prompt_schedule.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string s(reinterpret_cast<const char*>(data), size);
    try {
        (void)sdgimp::text::parse_prompt_attention(s);
    } catch (const sdgimp::Error&) {
    }
    sdgimp::text::ScheduleOptions o;
    o.steps = 1 + static_cast<int>(size % 40);
    (void)sdgimp::text::prompt_schedule(s, o);
    (void)sdgimp::text::split_and(s);
    (void)sdgimp::text::parse_extra_networks(s);
    (void)sdgimp::text::parse_infotext(s);
    (void)sdgimp::text::json_unquote(s);
    return 0;
}
