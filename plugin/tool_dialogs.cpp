#include "tool_dialogs.h"

#include <cstdio>
#include <cstdlib>

#include "form_dialog.h"
#include "generate_dialog.h"
#include "imaging/removal_box.h"
#include "settings.h"
#include "status.h"
#include "tool_forms.h"

namespace sdgimp::plugin {
namespace {

std::string text_of(const GimpParam& p, int digits) {
    char buf[64];
    switch (p.type) {
        case GIMP_PDB_STRING: return p.data.d_string ? p.data.d_string : "";
        case GIMP_PDB_INT32: return std::to_string(p.data.d_int32);
        case GIMP_PDB_FLOAT: std::snprintf(buf, sizeof buf, "%.*f", digits, p.data.d_float); return buf;
        default: return "";
    }
}

}  // namespace

// Fields that follow the last request of any procedure; the others are remembered per dialog.
static bool shared_with_generation(const std::string& key) {
    for (const char* k : {"prompt", "negative_prompt", "steps", "sampler", "schedule", "cfg_scale", "seed", "model"})
        if (key == k) return true;
    return false;
}

ToolAnswer ask_tool_arguments(const std::string& proc, std::vector<GimpParam>* args, std::vector<std::string>* strings) {
    Settings s = load_settings();
    auto form = dialogs::tool_form(proc, {model_choices(s), imaging::default_lama_path(), vae_choices(s), upscaler_names(s)});
    if (!form) return ToolAnswer::kNotATool;
    if (!dialogs::init_gtk()) return ToolAnswer::kNoDisplay;
    auto& a = *args;
    auto& fields = form->config.fields;
    for (size_t i = 0; i < fields.size(); ++i) {
        const int idx = form->indices[i];
        if (idx >= static_cast<int>(a.size())) continue;
        const GimpParam& p = a[static_cast<size_t>(idx)];
        fields[i].value = fields[i].kind == dialogs::FormField::Kind::kCheck ? (p.data.d_int32 ? "1" : "0") : text_of(p, fields[i].digits);
        const auto saved = s.tools.find(proc);
        if (saved != s.tools.end() && fields[i].remembered && !shared_with_generation(fields[i].key)) {
            const auto it = saved->second.find(fields[i].key);
            if (it != saved->second.end()) fields[i].value = it->second;
        }
        if (fields[i].key == "vae" && fields[i].value.empty()) fields[i].value = s.vae.empty() ? "Automatic" : s.vae;
    }
    form->config.transient_for_xid = static_cast<unsigned long>(gimp_progress_get_window_handle());
    dialogs::FormDialog dialog(form->config);
    if (!dialog.run_modal()) return ToolAnswer::kCancelled;
    const dialogs::FormValues v = dialog.values();
    // Remembered for the next time (and GIMP restarts).
    for (const auto& f : fields)
        if (f.remembered && !shared_with_generation(f.key)) s.tools[proc][f.key] = v.at(f.key);
    save_settings(s);
    if (strings->size() + fields.size() > strings->capacity())
        throw Error(ErrorCode::kInternal, "Too many dialog strings for the reserved argument storage.");
    for (size_t i = 0; i < fields.size(); ++i) {
        const int idx = form->indices[i];
        if (idx >= static_cast<int>(a.size())) continue;
        GimpParam& p = a[static_cast<size_t>(idx)];
        const std::string& val = v.at(fields[i].key);
        switch (p.type) {
            case GIMP_PDB_STRING:
                strings->push_back(val);
                p.data.d_string = const_cast<gchar*>(strings->back().c_str());
                break;
            case GIMP_PDB_INT32: p.data.d_int32 = static_cast<gint32>(std::atof(val.c_str())); break;
            case GIMP_PDB_FLOAT: p.data.d_float = std::atof(val.c_str()); break;
            default: break;
        }
    }
    return ToolAnswer::kAccepted;
}

}  // namespace sdgimp::plugin
