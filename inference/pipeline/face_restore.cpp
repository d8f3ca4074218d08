#include "face_restore.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "../imaging/face_warp.h"
#include "../io/checkpoint_file.h"
#include "../io/folder_files.h"
#include "../io/mapped_file.h"
#include "../models/state_loader.h"
#include "../status.h"

namespace sdgimp::pipeline {
namespace {

using torch::indexing::Slice;
constexpr int kFaceSize = 512;

// An (H, W, 3) float tensor of the picture's 8-bit values in OpenCV's BGR order.
torch::Tensor bgr_of(const Image& image) {
    const torch::Tensor px = torch::from_blob(const_cast<uint8_t*>(image.pixels.data()), {image.height, image.width, image.channels}, torch::kUInt8);
    return px.slice(2, 0, 3).flip({2}).to(torch::kDouble);
}

// A1111's bgr_image_to_rgb_tensor(face / 255) and normalize(0.5, 0.5): (1, 3, H, W) float32 in [-1, 1].
torch::Tensor face_tensor(const torch::Tensor& bgr) {
    const torch::Tensor rgb = (bgr / 255.0).to(torch::kFloat).flip({2}).permute({2, 0, 1}).unsqueeze(0);
    return ((rgb - 0.5f) / 0.5f).contiguous();
}

std::map<std::string, torch::Tensor> tensors_of(const std::string& path) {
    std::map<std::string, torch::Tensor> keys;
    for (const auto& [k, t] : io::open_checkpoint(path).tensors) keys[k] = models::to_torch(t);
    return keys;
}

// The destination pixels whose source position (through `back`'s inverse) lies within two pixels
// of the 512-pixel face: the bicubic and bilinear taps reach no further.
struct Box {
    int x = 0, y = 0, w = 0, h = 0;
};
Box landing_box(const imaging::Affine& back, int w, int h) {
    double x0 = 1e300, y0 = 1e300, x1 = -1e300, y1 = -1e300;
    for (double u : {-3.0, kFaceSize + 3.0})
        for (double v : {-3.0, kFaceSize + 3.0}) {
            const double x = back[0] * u + back[1] * v + back[2], y = back[3] * u + back[4] * v + back[5];
            x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
        }
    Box b;
    b.x = static_cast<int>(std::max(0.0, std::floor(x0) - 2));
    b.y = static_cast<int>(std::max(0.0, std::floor(y0) - 2));
    b.w = static_cast<int>(std::min<double>(w, std::ceil(x1) + 3)) - b.x;
    b.h = static_cast<int>(std::min<double>(h, std::ceil(y1) + 3)) - b.y;
    return b;
}

void check_rgb(const Image& image) {
    if (!image.valid() || image.channels < 3)
        throw Error(ErrorCode::kInvalidRequest, "Face restoration needs an RGB image; convert the image to RGB first.");
}

}  // namespace

std::vector<std::array<double, 2>> face_template_512() {
    return {{192.98138, 239.94708}, {318.90277, 240.1936}, {256.63416, 314.01935}, {201.26117, 371.41043}, {313.08905, 371.15118}};
}

torch::Tensor face_paste_mask(const torch::Tensor& labels) {
    // MASK_COLORMAP: classes 0 (background), 14 (neck), 16 (cloth), 17 (hair) and 18 (hat) stay out.
    torch::Tensor keep = torch::ones_like(labels, torch::kBool);
    for (int64_t c : {0, 14, 16, 17, 18}) keep &= labels != c;
    return keep.to(torch::kDouble) * 255.0;
}

namespace {

// find_face_landmarks on the picture's BGR values (H, W, 3).
std::vector<std::vector<imaging::Point2>> landmarks_in(const torch::Tensor& bgr, const models::RetinaFace& detector) {
    torch::NoGradGuard ng;
    const int h = static_cast<int>(bgr.size(0)), w = static_cast<int>(bgr.size(1));
    const double scale = std::min(h, w) / 640.0;
    const int dh = static_cast<int>(h / scale), dw = static_cast<int>(w / scale);
    const torch::Tensor small = imaging::resize_lanczos4(bgr, dw, dh);
    std::vector<std::vector<imaging::Point2>> faces;
    for (const auto& d : detector.detect(small, 0.97, 0.4)) {
        std::vector<imaging::Point2> marks;
        // bboxes * scale: NumPy multiplies the float32 detections by the scale as a float32.
        const float s32 = static_cast<float>(scale);
        for (int k = 0; k < 5; ++k)
            marks.push_back({d.landmarks[static_cast<size_t>(2 * k)] * s32, d.landmarks[static_cast<size_t>(2 * k + 1)] * s32});
        if (std::hypot(marks[0][0] - marks[1][0], marks[0][1] - marks[1][1]) < 5) continue;
        faces.push_back(std::move(marks));
    }
    return faces;
}

// paste_restored_faces given the picture's BGR values as well.
Image paste_onto(const Image& image, const torch::Tensor& bgr, const std::vector<std::vector<imaging::Point2>>& faces,
                 const models::ParseNet& parser, const RestoreFace& restore, const FaceRestoreRun& run) {
    torch::NoGradGuard ng;
    const int h = image.height, w = image.width;
    torch::Tensor canvas = bgr.clone();
    const auto tmpl = face_template_512();
    int restored = 0;
    for (const auto& marks : faces) {
        if (run.cancelled && run.cancelled()) throw Cancelled();
        const imaging::Affine fit = imaging::fit_similarity(marks, tmpl);
        const torch::Tensor crop = imaging::warp_affine(bgr, fit, kFaceSize, kFaceSize, imaging::WarpFilter::kBilinear, {135, 133, 132}, true);
        torch::Tensor out = restore(face_tensor(crop));
        if (out.dim() != 4 || out.size(0) != 1 || out.size(1) != 3 || out.size(2) != kFaceSize || out.size(3) != kFaceSize)
            throw Error(ErrorCode::kInternal, "The face restorer returned a face of another size.");
        if (!torch::isfinite(out).all().item<bool>()) throw Error(ErrorCode::kInternal, "The face restorer returned values that are not numbers.");
        // rgb_tensor_to_bgr_image(min_max=(-1, 1)) * 255, truncated to 8 bits as astype('uint8').
        const torch::Tensor unit = (out.squeeze(0).to(torch::kFloat).clamp(-1, 1) + 1.0f) / 2.0f;
        const torch::Tensor face_bgr = torch::trunc(unit.permute({1, 2, 0}).flip({2}) * 255.0f).to(torch::kDouble);

        const imaging::Affine back = imaging::invert_affine(fit);
        // Only the part of the picture the face's square lands on (with the taps around it) can
        // change: outside it the mask warps to exactly 0.
        const Box box = landing_box(back, w, h);
        if (box.w <= 0 || box.h <= 0) {
            ++restored;
            continue;
        }
        const torch::Tensor pasted = imaging::warp_affine(face_bgr, back, box.w, box.h, imaging::WarpFilter::kBilinear, {0, 0, 0}, true, box.x, box.y);
        const torch::Tensor labels = parser.forward(face_tensor(face_bgr)).argmax(1).squeeze(0);
        torch::Tensor mask = face_paste_mask(labels);
        mask = imaging::gaussian_blur_reflect101(mask, 101, 11);
        mask = imaging::gaussian_blur_reflect101(mask, 101, 11);
        const int edge = 10;  // the black border a warp can leave
        mask.index_put_({Slice(0, edge)}, 0.0);
        mask.index_put_({Slice(-edge, torch::indexing::None)}, 0.0);
        mask.index_put_({Slice(), Slice(0, edge)}, 0.0);
        mask.index_put_({Slice(), Slice(-edge, torch::indexing::None)}, 0.0);
        mask = mask / 255.0;
        const torch::Tensor soft =
            imaging::warp_affine(mask, back, box.w, box.h, imaging::WarpFilter::kBicubic, {0.0}, false, box.x, box.y).unsqueeze(2);
        torch::Tensor part = canvas.slice(0, box.y, box.y + box.h).slice(1, box.x, box.x + box.w);
        part.copy_(soft * pasted + (1 - soft) * part);
        ++restored;
    }
    if (run.faces_found) *run.faces_found = restored;
    if (restored == 0) return image;

    // astype(np.uint8) truncates; the cubic mask's overshoot is kept within 0..255.
    const torch::Tensor rgb = torch::trunc(canvas).clamp(0, 255).flip({2}).to(torch::kUInt8).contiguous();
    Image out = image;
    const torch::Tensor px = torch::from_blob(out.pixels.data(), {h, w, out.channels}, torch::kUInt8);
    px.slice(2, 0, 3).copy_(rgb);
    return out;
}

}  // namespace

std::vector<std::vector<imaging::Point2>> find_face_landmarks(const Image& image, const models::RetinaFace& detector) {
    check_rgb(image);
    return landmarks_in(bgr_of(image), detector);
}

Image paste_restored_faces(const Image& image, const std::vector<std::vector<imaging::Point2>>& faces, const models::ParseNet& parser,
                           const RestoreFace& restore, const FaceRestoreRun& run) {
    check_rgb(image);
    return paste_onto(image, bgr_of(image), faces, parser, restore, run);
}

Image restore_faces(const Image& image, const models::RetinaFace& detector, const models::ParseNet& parser, const RestoreFace& restore,
                    const FaceRestoreRun& run) {
    check_rgb(image);
    const torch::Tensor bgr = bgr_of(image);  // read once for both steps
    return paste_onto(image, bgr, landmarks_in(bgr, detector), parser, restore, run);
}

FaceRestorer::Files FaceRestorer::find_files(const std::vector<std::string>& dirs, const std::string& model) {
    const bool gfpgan = model == "GFPGAN";
    if (!gfpgan && model != "CodeFormer") throw Error(ErrorCode::kInvalidRequest, "Unknown face restorer \"" + model + "\"; use GFPGAN or CodeFormer.");
    auto lower = [](std::string v) {
        for (auto& ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        return v;
    };
    Files f;
    const std::vector<std::string> endings = {".pth", ".safetensors"};
    for (const auto& dir : dirs)
        for (const auto& path : io::files_under(dir, endings)) {
            const std::string name = path.substr(path.find_last_of('/') + 1);
            const bool is_restorer = gfpgan ? name.find("GFPGAN") != std::string::npos : lower(name).find("codeformer") != std::string::npos;
            if (f.restorer.empty() && is_restorer) f.restorer = path;
            if (f.detector.empty() && name == "detection_Resnet50_Final.pth") f.detector = path;
            if (f.parser.empty() && name == "parsing_parsenet.pth") f.parser = path;
        }
    const std::string where = !dirs.empty() ? dirs.front()
                              : gfpgan      ? std::string("a GFPGAN folder beside your checkpoints' (A1111's models/GFPGAN)")
                                            : std::string("a Codeformer folder beside your checkpoints' (A1111's models/Codeformer)");
    if (f.restorer.empty())
        throw Error(ErrorCode::kModelNotFound, gfpgan ? "GFPGAN was not found: put GFPGANv1.4.pth (TencentARC's release) in " + where + "."
                                                      : "CodeFormer was not found: put codeformer-v0.1.0.pth (sczhou's release) in " + where + ".");
    if (f.detector.empty() || f.parser.empty())
        throw Error(ErrorCode::kModelNotFound, model + " needs facexlib's detection_Resnet50_Final.pth and parsing_parsenet.pth (its face finder and "
                                               "face parser): put them in " + where + " beside " + f.restorer.substr(f.restorer.find_last_of('/') + 1) + ".");
    return f;
}

void FaceRestorer::use(const Files& files, const std::string& model) {
    // A file is known by its path and stamp, so one replaced on disk is read again.
    auto key = [](const std::string& path) { return path + "\n" + io::file_stamp(path); };
    if (key(files.detector) != detector_path_ || !detector_) {
        detector_.reset();
        detector_ = std::make_unique<models::RetinaFace>(models::RetinaFace::from_tensors(tensors_of(files.detector), files.detector));
        detector_path_ = key(files.detector);
    }
    if (key(files.parser) != parser_path_ || !parser_) {
        parser_.reset();
        parser_ = std::make_unique<models::ParseNet>(models::ParseNet::from_tensors(tensors_of(files.parser), files.parser));
        parser_path_ = key(files.parser);
    }
    // Both restorers stay loaded once used (Extras runs one after the other), each by its file.
    const bool gfpgan = model == "GFPGAN";
    std::string& path = gfpgan ? gfpgan_path_ : codeformer_path_;
    model_.clear();
    if (key(files.restorer) != path) {
        path.clear();
        const auto keys = tensors_of(files.restorer);
        int64_t size = 0;
        if (gfpgan) {
            gfpgan_.reset();
            gfpgan_ = std::make_unique<models::GFPGAN>(models::GFPGAN::from_tensors(keys, files.restorer));
            size = gfpgan_->out_size();
        } else {
            codeformer_.reset();
            codeformer_ = std::make_unique<models::CodeFormer>(models::CodeFormer::from_tensors(keys, files.restorer));
            size = codeformer_->face_size();
        }
        if (size != kFaceSize)
            throw_bad_file(files.restorer, "restores " + std::to_string(size) + "-pixel faces; A1111's face restoration works on 512-pixel faces (" +
                                               (gfpgan ? "GFPGAN v1.2-1.4" : "CodeFormer v0.1.0") + ").");
        path = key(files.restorer);
    }
    model_ = model;
}

Image FaceRestorer::restore(const Image& image, uint64_t seed, double codeformer_weight, const FaceRestoreRun& run) {
    if (model_.empty()) throw Error(ErrorCode::kInternal, "FaceRestorer::restore before use().");
    if (model_ == "CodeFormer") {
        const models::CodeFormer& net = *codeformer_;
        return restore_faces(image, *detector_, *parser_, [&](const torch::Tensor& face) { return net.forward(face, codeformer_weight); }, run);
    }
    torch::Generator noise = at::detail::createCPUGenerator(seed);
    const models::GFPGAN& net = *gfpgan_;
    return restore_faces(image, *detector_, *parser_, [&](const torch::Tensor& face) { return net.forward(face, noise); }, run);
}

std::vector<std::string> face_restoration_dirs(const std::vector<std::string>& requested, const std::string& checkpoint) {
    std::vector<std::string> dirs;
    for (const char* sub : {"GFPGAN", "Codeformer"}) {
        const std::vector<std::string> first = dirs.empty() ? requested : std::vector<std::string>{};
        const auto found = checkpoint.empty() ? io::search_dirs(first, "", sub, {}, "GIMP_DIFFUSION_GFPGAN_DIR")
                                              : io::search_dirs(first, checkpoint, sub, {"/../"}, "GIMP_DIFFUSION_GFPGAN_DIR");
        for (const auto& d : found)
            if (std::find(dirs.begin(), dirs.end(), d) == dirs.end()) dirs.push_back(d);
    }
    return dirs;
}

}  // namespace sdgimp::pipeline
