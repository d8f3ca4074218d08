// Every prompt-side parser on arbitrary bytes: none may crash, hang or throw anything but sdgimp::Error.
// The bytes also go through "paste parameters" (a PNG's text from anywhere) into a request, its
// checks, its parameters text and the engine's wire format, and are read as an A1111 styles.csv.
#include <cstddef>
#include <cstdint>
#include <string>

#include "request.h"
#include "status.h"
#include "wire.h"
#include "text/extra_networks.h"
#include "text/infotext.h"
#include "text/multicond.h"
#include "text/prompt_attention.h"
#include "text/prompt_schedule.h"
#include "text/prompt_styles.h"

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
    sdgimp::GenerateRequest r;
    (void)sdgimp::apply_parameters(s, &r);
    try {
        sdgimp::validate(r);
    } catch (const sdgimp::Error&) {
    }
    (void)sdgimp::hires_size(r);
    (void)sdgimp::text::create_infotext(sdgimp::generation_info(r, {}, r.seed, r.subseed, size % 2 == 0));
    (void)sdgimp::wire::request_from_json(sdgimp::wire::request_to_json(r));
    try {
        // The bytes as a styles.csv, each style merged into a short prompt.
        for (const auto& st : sdgimp::text::parse_styles_csv(s, "fuzz.csv")) (void)sdgimp::text::apply_styles({st}, "a cat", st.name.substr(0, 64));
    } catch (const sdgimp::Error&) {
    }
    return 0;
}
