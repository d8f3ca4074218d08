// The sub-commands of gimp-diffusion-cli, one function each.
#pragma once

#include <string>
#include <vector>

namespace sdgimp::cli {

int cmd_txt2img(const std::vector<std::string>& args);
int cmd_img2img(const std::vector<std::string>& args);
int cmd_inpaint(const std::vector<std::string>& args);
int cmd_upscale(const std::vector<std::string>& args);
int cmd_extras(const std::vector<std::string>& args);
int cmd_restore_faces(const std::vector<std::string>& args);
int cmd_interrogate(const std::vector<std::string>& args);
int cmd_merge(const std::vector<std::string>& args);
int cmd_remove(const std::vector<std::string>& args);
int cmd_sd_upscale(const std::vector<std::string>& args);
int cmd_outpaint(const std::vector<std::string>& args);
int cmd_tokenize(const std::vector<std::string>& args);
int cmd_parse_prompt(const std::vector<std::string>& args);
int cmd_infotext(const std::vector<std::string>& args);
int cmd_serve(const std::vector<std::string>& args);
int cmd_bench(const std::vector<std::string>& args);

}  // namespace sdgimp::cli
