// One request to the resident engine of this GIMP session, with GIMP's progress bar.
#pragma once

#include <string>

#include "engine/engine_status.h"
#include "wire.h"

namespace sdgimp::plugin {

Status call_engine(const wire::Message& request, const std::string& progress_label, wire::Message* result);

struct Settings;
// A1111's Interrogate DeepBooru of `picture` in the engine under `options` (the tagger looked for
// in deepbooru_model_dirs); throws sdgimp::Error with the engine's sentence.
std::string deepbooru_tags(const Image& picture, const Settings& s, const text::DeepBooruOptions& options);

}  // namespace sdgimp::plugin
