// libFuzzer target: what a checkpoint's shapes and the configs beside it turn into network sizes.
// An input is a key list, one "key dim dim ..." per line (the shapes a header could declare), then
// optionally a "%yaml" line and a sidecar YAML, then a "%json" line and a sidecar JSON. Sizes no
// Stable Diffusion model has must end in sdgimp::Error, never a crash or a division by zero.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "io/yaml_lite.h"
#include "model_config.h"
#include "status.h"

namespace {

std::string section(const std::string& s, const std::string& mark, const std::string& next) {
    const size_t a = s.find(mark);
    if (a == std::string::npos) return "";
    const size_t b = s.find(next, a + mark.size());
    return s.substr(a + mark.size(), b == std::string::npos ? std::string::npos : b - a - mark.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string in(reinterpret_cast<const char*>(data), size);
    sdgimp::io::TensorMap tensors;
    std::istringstream keys(in.substr(0, in.find("%yaml")));
    for (std::string line; std::getline(keys, line);) {
        std::istringstream ls(line);
        std::string key;
        if (!(ls >> key)) continue;
        sdgimp::io::RawTensor t;
        for (long long d; t.shape.size() < 8 && ls >> d;) t.shape.push_back(d);
        tensors[key] = t;
    }
    const std::string yaml_text = section(in, "%yaml", "%json"), json_text = section(in, "%json", "%yaml");
    nlohmann::json yaml, json;
    bool have_yaml = false;
    try {
        if (in.find("%yaml") != std::string::npos) {
            yaml = sdgimp::io::parse_yaml_lite(yaml_text, "fuzz.yaml");
            have_yaml = true;
        }
    } catch (const sdgimp::Error&) {
    }
    json = nlohmann::json::parse(json_text, nullptr, false);
    const bool have_json = !json.is_discarded() && json.is_object();
    try {
        (void)sdgimp::infer_model_config(tensors, have_yaml ? &yaml : nullptr, have_json ? &json : nullptr);
    } catch (const sdgimp::Error&) {
    }
    return 0;
}
