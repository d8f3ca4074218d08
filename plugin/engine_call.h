// One request to the resident engine of this GIMP session, with GIMP's progress bar.
#pragma once

#include <string>

#include "engine/engine_status.h"
#include "wire.h"

namespace sdgimp::plugin {

Status call_engine(const wire::Message& request, const std::string& progress_label, wire::Message* result);

}  // namespace sdgimp::plugin
