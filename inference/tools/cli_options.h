// Command-line options of gimp-diffusion-cli: "--name value" pairs and flags, with one-sentence errors.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "../request.h"

namespace sdgimp::cli {

struct Options {
    std::map<std::string, std::string> values;  // without the leading "--"
    std::vector<std::string> positional;
    bool has(const std::string& k) const { return values.count(k) != 0; }
    std::string get(const std::string& k, const std::string& def = "") const;
    int get_int(const std::string& k, int def) const;
    double get_double(const std::string& k, double def) const;
};

// flags: option names that take no value.
Options parse_options(const std::vector<std::string>& args, const std::vector<std::string>& flags);

// A1111's parameters text of an image file (PNG, JPEG, WebP); throws sdgimp::Error with one
// sentence for a file that has none.
std::string parameters_of_image(const std::string& path);

// --parameters-from (an image's text) and --parameters (an A1111 text) first, then the A1111-named
// options on top of them.
GenerateRequest request_from_options(const Options& o);

// Every option name request_from_options reads, for "unknown option" errors.
const std::vector<std::string>& request_option_names();

}  // namespace sdgimp::cli
