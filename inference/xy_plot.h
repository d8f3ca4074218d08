// A1111's X/Y plot axes: the fields a plot can vary and their values, parsed as A1111's script
// parses them (comma-separated, quotes keep commas), applied to one cell's request.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint_match.h"
#include "request.h"
#include "text/prompt_styles.h"

namespace sdgimp {

struct XYAxis {
    std::string field;                // one of xy_fields()
    std::vector<std::string> values;  // as the cells get them (sampler names canonical; labels for
                                      // Prompt order: each order of its tokens joined by ", ")
    std::vector<std::vector<std::string>> orders;  // Prompt order: the tokens in each cell's order
    std::vector<std::vector<text::PromptStyle>> style_sets;  // Styles: each cell's styles
};

// The fields of A1111 1.10's X/Y/Z plot that a request holds: "Nothing", "CFG Scale", "Steps",
// "Seed", "Variation seed" / "Var. seed", "Variation strength" / "Var. strength", "Clip skip",
// "Eta noise seed delta", "Sampler", "Schedule type", "Prompt S/R", "Prompt order" (every order of
// the listed tokens, as A1111's permutations), "Checkpoint name", "Eta", the sampler parameters
// ("Sigma Churn", "Sigma min", "Sigma max", "Sigma noise", "Negative Guidance minimum sigma",
// "Skip Early CFG", "UniPC Order", "SGM noise multiplier"), "RNG source", "Size" (WxH),
// "Initial noise multiplier", "Extra noise", "Cond. Image Mask Weight", "Styles" (a value names
// styles of `styles` separated by commas, as A1111 splits it), the schedule settings ("Schedule
// min sigma", "Schedule max sigma", "Schedule rho", "Beta schedule alpha", "Beta schedule beta",
// "Always discard next-to-last sigma"), "VAE" (Automatic, None or a VAE file's name), the
// refiner's two, and for
// runs with Hires. fix "Denoising", "Hires steps", "Hires upscaler", "Hires sampler".
const std::vector<std::string>& xy_fields();

// Throws sdgimp::Error (kInvalidRequest) naming the field and the value that is not one of it.
// "Prompt S/R" takes its first value as the text that every value replaces, and `base` must hold
// it in its prompt or negative prompt.
XYAxis parse_xy_axis(const std::string& field, const std::string& text, const GenerateRequest& base,
                     const std::vector<text::PromptStyle>& styles = {});

// The request of the cell at `index` along `axis`.
void apply_xy_value(GenerateRequest* r, const XYAxis& axis, size_t index);

// Throws sdgimp::Error with one sentence when the axis cannot change a plot run from A1111's
// img2img tab: the hires pass's fields (A1111 offers them in txt2img only). (Size resizes the
// layer's pixels to each value there, as A1111 resizes its init image.)
void check_xy_axis_for_img2img(const XYAxis& axis);

// A1111's AxisOption cost: how slow a change of the field is between cells (a checkpoint or a
// refiner loads, FP8 mode rounds the weights, a VAE loads; 0 for the rest). The costlier axis is
// walked outermost, so each slow change happens once per value.
double xy_axis_cost(const std::string& field);
// A1111's X/Y/Z plot walks its cells with the costliest axis outermost: the first axis is the one
// whose cost is above both others' (Z when none is), the second the costlier of the remaining two
// (ties: Y before X, Z before the other). Returns (ix, iy, iz) in that order.
std::vector<std::array<int, 3>> xyz_cell_order(const XYAxis& x, const XYAxis& y, const XYAxis& z);

// A1111's "Vary seeds for X/Y/Z": the seed offset of cell (ix, iy, iz) of an nx x ny x nz plot.
int64_t xyz_seed_offset(int ix, int iy, int iz, int nx, int ny, bool vary_x, bool vary_y, bool vary_z);

// A1111's fix_axis_seeds: on a "Seed" or "Variation seed" axis each -1 value becomes one random seed
// (drawn by `random`), the same for every cell of that value; other axes are left as they are.
void fix_xy_axis_seeds(XYAxis* axis, const std::function<int64_t()>& random);

// A "Styles" axis's styles merged into the cell's prompts (and hires prompts): after every axis's
// apply_xy_value, as A1111 merges styles when the cell runs (Prompt S/R never edits a style's text).
void apply_xy_styles(GenerateRequest* r, const XYAxis& axis, size_t index);

// For a "Checkpoint name" axis: the file of `checkpoints` its value at `index` names (the path
// itself, else as A1111's get_closet_checkpoint_match finds it: checkpoint_match.h); "" for other axes. Throws
// sdgimp::Error naming a value no checkpoint has.
std::string xy_checkpoint(const XYAxis& axis, size_t index, const std::vector<CheckpointNames>& checkpoints);

// For a "VAE" axis: what ModelRequest::vae takes for its value at `index` ("Automatic" -> "",
// "None", or the file of `vaes` the value names: its file name with or without the extension, or
// the path itself); std::nullopt for other axes. Throws sdgimp::Error naming a value no file has.
std::optional<std::string> xy_vae(const XYAxis& axis, size_t index, const std::vector<std::string>& vaes);

}  // namespace sdgimp
