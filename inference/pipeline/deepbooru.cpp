#include "deepbooru.h"

#include <map>

#include "imaging/inpaint_prep.h"
#include "io/folder_files.h"
#include "io/mapped_file.h"
#include "io/torch_pickle_checkpoint.h"
#include "models/deepdanbooru.h"
#include "models/state_loader.h"
#include "status.h"

namespace sdgimp::pipeline {
namespace {

constexpr int kInputSize = 512;
const char kFileName[] = "model-resnet_custom_v3.pt";

}  // namespace

torch::Tensor deepbooru_input(const Image& image) {
    if (!image.valid()) throw Error(ErrorCode::kInvalidRequest, "DeepBooru needs a picture; the image is empty.");
    // Letterboxed into 512 x 512, the short side must keep at least one pixel.
    if (static_cast<int64_t>(image.width) * kInputSize / image.height == 0 || static_cast<int64_t>(image.height) * kInputSize / image.width == 0)
        throw Error(ErrorCode::kInvalidRequest, "The picture (" + std::to_string(image.width) + "x" + std::to_string(image.height) +
                                                    ") is too narrow for DeepBooru's 512x512 input; select a part closer to square.");
    const Image pic = imaging::resize_image(2, imaging::to_rgb(image), kInputSize, kInputSize);
    torch::Tensor x = torch::from_blob(const_cast<uint8_t*>(pic.pixels.data()), {1, kInputSize, kInputSize, 3}, torch::kUInt8);
    return x.to(torch::kFloat) / 255;
}

std::vector<std::string> deepbooru_dirs(const std::vector<std::string>& requested, const std::string& checkpoint) {
    return checkpoint.empty() ? io::search_dirs(requested, "", "DeepDanbooru", {}, "GIMP_DIFFUSION_DEEPBOORU_DIR")
                              : io::search_dirs(requested, checkpoint, "DeepDanbooru", {"/../"}, "GIMP_DIFFUSION_DEEPBOORU_DIR");
}

DeepBooruTagger::DeepBooruTagger() = default;
DeepBooruTagger::~DeepBooruTagger() = default;

std::string DeepBooruTagger::find_file(const std::vector<std::string>& dirs) {
    std::string first;
    for (const auto& dir : dirs)
        for (const auto& path : io::files_under(dir, {".pt"})) {
            if (path.substr(path.find_last_of('/') + 1) == kFileName) return path;
            if (first.empty()) first = path;
        }
    if (!first.empty()) return first;
    const std::string where = dirs.empty() ? std::string("a DeepDanbooru folder beside your checkpoints' (A1111's models/DeepDanbooru)") : dirs.front();
    throw Error(ErrorCode::kModelNotFound, std::string("DeepBooru was not found: put ") + kFileName + " (AUTOMATIC1111's TorchDeepDanbooru release) in " + where + ".");
}

void DeepBooruTagger::use(const std::string& path) {
    const std::string key = path + "\n" + io::file_stamp(path);
    if (model_ && key == loaded_) return;
    model_.reset();
    loaded_.clear();
    const io::PickleTree tree = io::read_torch_tree(io::MappedFile::open(path));
    std::map<std::string, torch::Tensor> tensors;
    for (const auto& [k, t] : tree.tensors) tensors[k] = models::to_torch(t);
    // The tag names sit beside the weights as "tags": a list of strings.
    std::vector<std::string> tags;
    for (size_t i = 0;; ++i) {
        const auto it = tree.values.find("tags." + std::to_string(i));
        if (it == tree.values.end()) break;
        if (it->second.kind != io::PlainValue::Kind::kStr)
            throw_bad_file(path, "has tag " + std::to_string(i) + " that is not text; the file is damaged or not DeepDanbooru's " + kFileName + ".");
        tags.push_back(it->second.text);
    }
    if (tags.empty()) throw_bad_file(path, std::string("has no tag list; the file is damaged or not DeepDanbooru's ") + kFileName + ".");
    model_ = std::make_unique<models::DeepDanbooru>(models::DeepDanbooru::from_tensors(tensors, std::move(tags), path));
    loaded_ = key;
}

std::vector<float> DeepBooruTagger::probabilities(const Image& image) const {
    if (!model_) throw Error(ErrorCode::kInternal, "DeepBooruTagger used before use().");
    const torch::Tensor y = model_->forward(deepbooru_input(image)).contiguous();
    if (!torch::isfinite(y).all().item<bool>())
        throw Error(ErrorCode::kBadFile, "DeepBooru's tagger gave scores that are not numbers; its file " + loaded_.substr(0, loaded_.find('\n')) +
                                             " is damaged: download it again.");
    return std::vector<float>(y.data_ptr<float>(), y.data_ptr<float>() + y.numel());
}

std::string DeepBooruTagger::tag(const Image& image, const text::DeepBooruOptions& o) const {
    text::validate_deepbooru_options(o);
    const std::vector<float> scores = probabilities(image);  // throws before use()
    return text::deepbooru_text(model_->tags(), scores, o);
}

}  // namespace sdgimp::pipeline
