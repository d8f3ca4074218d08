#include "script_source.h"

#include "status.h"

namespace sdgimp::plugin {

ScriptSource script_source(const GimpParam* params, int index) {
    const std::string v = params[index].data.d_string ? params[index].data.d_string : "";
    if (v != "txt2img" && v != "img2img")
        throw Error(ErrorCode::kInvalidRequest, "A script runs from \"txt2img\" (new images) or \"img2img\" (the active layer), not \"" + v + "\".");
    ScriptSource src;
    src.img2img = v == "img2img";
    src.denoising_strength = params[index + 1].data.d_float;
    return src;
}

wire::Message script_message(const ScriptSource& src, gint32 image, gint32 drawable, GenerateRequest* r, const std::string& model,
                             const Settings& s, Target* t) {
    return prepare(src.img2img ? GenMode::kImg2Img : GenMode::kTxt2Img, image, drawable, r, model, s, t);
}

}  // namespace sdgimp::plugin
