// Extra-network tags such as <lora:name:0.8> or <hypernet:x:1:te=0.3>: removed from the positive
// prompt before it is encoded and kept, in order, for the network loaders.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace sdgimp::text {

struct ExtraNetworkCall {
    std::vector<std::string> items;       // the arguments split on ':'
    std::vector<std::string> positional;  // items that are not name=value pairs
    std::map<std::string, std::string> named;
};

struct ExtraNetworkTags {
    std::string stripped;  // the prompt with every tag removed, nothing else touched
    std::vector<std::pair<std::string, std::vector<ExtraNetworkCall>>> networks;  // first-seen order
};

ExtraNetworkTags parse_extra_networks(const std::string& prompt);

}  // namespace sdgimp::text
