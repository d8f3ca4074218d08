// Which generating procedure is running.
#pragma once

namespace sdgimp::plugin {

enum class GenMode { kTxt2Img, kImg2Img, kInpaint };

}  // namespace sdgimp::plugin
