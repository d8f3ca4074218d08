// The forms of the menu entries without a generation loop (Upscale, SD Upscale, Remove Object,
// X/Y Plot, Load Model): A1111's fields, each bound to the procedure's PDB argument index, with the
// live description and the one-sentence checks. GIMP-free, so the dialog tests build them too.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "form_dialog.h"

namespace sdgimp::dialogs {

struct ToolContext {
    std::vector<std::string> models;  // checkpoints to offer
    std::string lama_path;            // where big-lama.pt is expected
    std::vector<std::string> vaes;    // VAE choices: "Automatic", "None", then files
    std::vector<std::string> upscalers;  // upscaler files of the model folders, by A1111's names
};

struct ToolForm {
    FormConfig config;
    std::vector<int> indices;  // PDB argument index of config.fields[i]
};

// nullopt for procedures that have no form (the generation dialogs have their own).
std::optional<ToolForm> tool_form(const std::string& procedure, const ToolContext& ctx);

}  // namespace sdgimp::dialogs
