// gimp-diffusion-cli tokenize / parse-prompt / infotext: the text side as JSON.
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "../status.h"
#include "../text/clip_tokenizer.h"
#include "../text/extra_networks.h"
#include "../text/infotext.h"
#include "../text/multicond.h"
#include "../text/prompt_attention.h"
#include "../text/prompt_chunks.h"
#include "../text/prompt_schedule.h"
#include "cli_commands.h"
#include "cli_options.h"

namespace sdgimp::cli {
namespace {

std::string one_prompt(const Options& o, const char* cmd) {
    if (o.positional.size() != 1)
        throw Error(ErrorCode::kInvalidRequest, std::string(cmd) + " takes one prompt (quote it): gimp-diffusion-cli " + cmd + " \"a cat\".");
    return o.positional[0];
}

nlohmann::json value_json(const std::optional<text::InfoValue>& v) {
    if (!v) return nullptr;
    switch (v->kind) {
        case text::InfoValue::Kind::kInt: return v->i;
        case text::InfoValue::Kind::kFloat: return v->f;
        case text::InfoValue::Kind::kBool: return v->b;
        default: return v->s;
    }
}

}  // namespace

int cmd_tokenize(const std::vector<std::string>& args) {
    const Options o = parse_options(args, {});
    const std::string prompt = one_prompt(o, "tokenize");
    const std::string family = o.get("family", "sd2");
    if (family != "sd1" && family != "sd2") throw Error(ErrorCode::kInvalidRequest, "--family takes sd1 or sd2, not '" + family + "'.");
    text::ClipTokenizer tok(o.has("vocab") ? o.get("vocab") : text::find_vocab(o.get("model", "./x")));
    text::ChunkSettings cs;
    cs.flavor = family == "sd2" ? text::TokenizerFlavor::kOpenCLIP : text::TokenizerFlavor::kHF;
    cs.emphasis = text::parse_emphasis_mode(o.get("emphasis", "Original"));
    const auto c = text::chunk_prompt(tok, prompt, cs);
    nlohmann::json j;
    j["token_count"] = c.token_count;
    const int target = std::max(1, (c.token_count + 74) / 75) * 75;
    j["counter"] = std::to_string(c.token_count) + "/" + std::to_string(target);
    j["chunks"] = nlohmann::json::array();
    for (const auto& ch : c.chunks)
        j["chunks"].push_back({{"tokens", ch.tokens}, {"multipliers", ch.multipliers}, {"transformer_tokens", ch.transformer_tokens}});
    std::cout << j.dump() << "\n";
    return 0;
}

int cmd_parse_prompt(const std::vector<std::string>& args) {
    const Options o = parse_options(args, {});
    const std::string prompt = one_prompt(o, "parse-prompt");
    text::ScheduleOptions so;
    so.steps = o.get_int("steps", 20);
    if (so.steps < 1) throw Error(ErrorCode::kInvalidRequest, "--steps must be at least 1.");
    const auto xn = text::parse_extra_networks(prompt);
    nlohmann::json j;
    j["prompt_after_extra_networks"] = xn.stripped;
    j["extra_networks"] = nlohmann::json::object();
    for (const auto& [name, calls] : xn.networks)
        for (const auto& call : calls) j["extra_networks"][name].push_back(call.items);
    j["subprompts"] = nlohmann::json::array();
    for (const auto& sub : text::split_and(xn.stripped)) {
        nlohmann::json s = {{"text", sub.text}, {"weight", sub.weight}, {"schedule", nlohmann::json::array()}};
        for (const auto& [end, t] : text::prompt_schedule(sub.text, so)) {
            nlohmann::json frags = nlohmann::json::array();
            for (const auto& f : text::parse_prompt_attention(t)) frags.push_back({f.text, f.weight});
            s["schedule"].push_back({{"end_at_step", end}, {"text", t}, {"attention", frags}});
        }
        j["subprompts"].push_back(s);
    }
    std::cout << j.dump() << "\n";
    return 0;
}

int cmd_infotext(const std::vector<std::string>& args) {
    const Options o = parse_options(args, {"build"});
    if (o.has("build")) {
        GenerateRequest r = request_from_options(o);
        if (r.seed < 0) throw Error(ErrorCode::kInvalidRequest, "--build needs a --seed to write.");
        ModelIdentity id;
        id.hash = o.get("model-hash");
        id.name = o.get("model-name");
        std::cout << text::create_infotext(generation_info(r, id, r.seed,
                                                           r.subseed, o.has("denoising-strength")))
                  << "\n";
        return 0;
    }
    const std::string text = o.has("image") ? parameters_of_image(o.get("image")) : std::string(std::istreambuf_iterator<char>(std::cin), {});
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [k, v] : text::parse_infotext(text)) j[k] = value_json(v);
    GenerateRequest r;
    const auto ignored = apply_parameters(text, &r);
    j["_ignored"] = ignored;
    std::cout << j.dump() << "\n";
    return 0;
}

}  // namespace sdgimp::cli
