// The GTK 3 dialogs of Upscale, SD Upscale, Remove Object, X/Y Plot and Load Model: the procedure's
// PDB arguments (already filled with A1111 defaults and the last request) shown as A1111's fields;
// OK writes the edited values back into the arguments.
#pragma once

#include <libgimp/gimp.h>

#include <string>
#include <vector>

namespace sdgimp::plugin {

enum class ToolAnswer { kNotATool, kAccepted, kCancelled, kNoDisplay };

// args: the full PDB argument list; strings owns the text the string arguments point into (reserve
// room for 32 more before calling: pointers into it must stay valid).
ToolAnswer ask_tool_arguments(const std::string& proc, std::vector<GimpParam>* args, std::vector<std::string>* strings);

}  // namespace sdgimp::plugin
