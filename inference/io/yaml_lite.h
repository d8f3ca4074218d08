// Reads the block-style YAML subset of latent-diffusion model configs (v2-inference-v.yaml and
// friends) into a JSON tree: nested mappings, "- " sequences, flow lists [a, b], plain or quoted
// scalars, comments. Anchors, multi-line strings and documents are not needed and are rejected.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace sdgimp::io {

// Throws sdgimp::Error naming `name` and the line on malformed input.
nlohmann::json parse_yaml_lite(const std::string& text, const std::string& name);

}  // namespace sdgimp::io
