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

}  // namespace sdgimp::plugin
