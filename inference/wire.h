// The resident engine's socket protocol: one JSON header per message (u32 little-endian length
// first) followed by the binary payloads its "payloads" array sizes. Shared by the engine server
// (gimp-diffusion-cli serve) and the GIMP plug-in, which keeps no torch in its own process.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "image.h"
#include "request.h"
#include "text/deepbooru_tags.h"

namespace sdgimp::wire {

struct Message {
    nlohmann::json header = nlohmann::json::object();
    std::vector<std::vector<uint8_t>> payloads;
};

// Throws sdgimp::Error when the peer is gone or the write fails.
void send_message(int fd, const Message& m);

// false on a clean end of stream; throws sdgimp::Error for a malformed or oversized message.
bool recv_message(int fd, Message* m);

// Is there something to read (a message or the peer hanging up) right now?
bool readable(int fd, int timeout_ms = 0);

nlohmann::json request_to_json(const GenerateRequest& r);
// Missing fields keep their defaults; a field of the wrong type is an Error naming it.
GenerateRequest request_from_json(const nlohmann::json& j);

// Adds the image as the next payload and returns its description.
nlohmann::json attach_image(Message* m, const Image& img);
// Rebuilds an image from its description and payload, checking sizes.
Image image_from(const nlohmann::json& desc, const Message& m);

// A1111's "deepbooru:" settings as the interrogate-deepbooru op carries them (threshold,
// sort_alpha, use_spaces, escape, include_ranks, filter_tags); missing fields keep their defaults,
// a field of the wrong type is an Error naming it.
void put_deepbooru_options(nlohmann::json* header, const text::DeepBooruOptions& o);
text::DeepBooruOptions deepbooru_options_from(const nlohmann::json& header);

}  // namespace sdgimp::wire
