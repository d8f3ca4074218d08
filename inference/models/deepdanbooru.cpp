#include "deepdanbooru.h"

#include <limits>

#include "tensor_lookup.h"

namespace sdgimp::models {
namespace {

const std::string kNotDeepDanbooru = "; the file is damaged or not DeepDanbooru's model-resnet_custom_v3.pt.";

std::string conv_key(int index) { return "n_Conv_" + std::to_string(index); }

}  // namespace

const std::vector<DeepDanbooru::Run>& DeepDanbooru::runs() {
    // 3 + 8 + 40 + 3 + 3 blocks; the third stage halves its size a second time halfway, and that
    // block's shortcut comes after its convolutions in the release's numbering.
    static const std::vector<Run> kRuns = {{3, 1, true}, {8, 2, true}, {20, 2, true}, {20, 2, false}, {3, 2, true}, {3, 2, true}};
    return kRuns;
}

torch::Tensor DeepDanbooru::Conv::forward(const torch::Tensor& x) const {
    const int64_t k = w.size(2);
    torch::Tensor y = x;
    // TensorFlow's "same" padding: (k - 1) / 2 each side at stride 1; at stride 2 on an even size
    // only the right and bottom get one.
    if (k == 3) y = torch::constant_pad_nd(y, stride == 1 ? std::vector<int64_t>{1, 1, 1, 1} : std::vector<int64_t>{0, 1, 0, 1}, 0);
    return torch::conv2d(y, w, b, stride);
}

torch::Tensor DeepDanbooru::Block::forward(const torch::Tensor& x) const {
    const torch::Tensor main = expand.forward(torch::relu(spatial.forward(torch::relu(reduce.forward(x)))));
    return torch::relu(main + (has_shortcut ? shortcut.forward(x) : x));
}

bool DeepDanbooru::is_layout(const std::map<std::string, torch::Tensor>& t) {
    return t.count("n_Conv_0.weight") && t.count("n_Conv_178.weight");
}

DeepDanbooru DeepDanbooru::from_tensors(const std::map<std::string, torch::Tensor>& tensors, std::vector<std::string> tags,
                                        const std::string& path) {
    if (!is_layout(tensors)) throw_bad_file(path, "is not a DeepDanbooru tagger (no n_Conv_0 and n_Conv_178)" + kNotDeepDanbooru);
    const TensorLookup t(tensors, path, "", kNotDeepDanbooru);
    auto conv = [&](int index, int64_t in, int64_t k, int stride) {
        Conv c;
        const std::string key = conv_key(index);
        const int64_t out = t.conv_out(key + ".weight", in, k);
        c.w = t.expect(key + ".weight", {out, in, k, k});
        c.b = t.expect(key + ".bias", {out});
        c.stride = stride;
        return c;
    };
    DeepDanbooru m;
    m.stem_ = conv(0, 3, 7, 2);
    int64_t width = m.stem_.w.size(0);
    int next = 1;
    for (const Run& run : runs())
        for (int i = 0; i < run.blocks; ++i) {
            Block b;
            const bool first = i == 0;
            const int stride = first ? run.stride : 1;
            int shortcut_index = -1;
            if (first && run.shortcut_first) shortcut_index = next++;
            b.reduce = conv(next++, width, 1, 1);
            b.spatial = conv(next++, b.reduce.w.size(0), 3, stride);
            b.expand = conv(next++, b.spatial.w.size(0), 1, 1);
            if (first && !run.shortcut_first) shortcut_index = next++;
            const int64_t out = b.expand.w.size(0);
            b.has_shortcut = first;
            if (first) {
                b.shortcut = conv(shortcut_index, width, 1, stride);
                if (b.shortcut.w.size(0) != out)
                    t.fail("has " + conv_key(shortcut_index) + " of " + std::to_string(b.shortcut.w.size(0)) + " channels where its block gives " +
                           std::to_string(out));
            } else if (out != width) {
                t.fail("has " + conv_key(next - 1) + " of " + std::to_string(out) + " channels where its block takes " + std::to_string(width));
            }
            width = out;
            m.blocks_.push_back(std::move(b));
        }
    const std::string head = conv_key(next) + ".weight";
    const int64_t scores = t.conv_out(head, width, 1);
    m.head_ = t.expect(head, {scores, width, 1, 1});
    if (t.has(conv_key(next) + ".bias")) t.fail("has a bias on " + conv_key(next) + ", which the tagger's head does not have");
    if (static_cast<int64_t>(tags.size()) != scores)
        t.fail("has " + std::to_string(tags.size()) + " tags for " + std::to_string(scores) + " scores");
    m.tags_ = std::move(tags);
    return m;
}

torch::Tensor DeepDanbooru::forward(const torch::Tensor& x) const {
    torch::NoGradGuard no_grad;
    torch::Tensor y = x.permute({0, 3, 1, 2}).to(torch::kFloat);
    y = torch::constant_pad_nd(y, {2, 3, 2, 3}, 0);
    y = torch::relu(torch::conv2d(y, stem_.w, stem_.b, 2));
    y = torch::constant_pad_nd(y, {0, 1, 0, 1}, -std::numeric_limits<double>::infinity());
    y = torch::max_pool2d(y, {3, 3}, {2, 2});
    for (const Block& b : blocks_) y = b.forward(y);
    y = torch::conv2d(y, head_);
    return torch::sigmoid(y.mean({2, 3}))[0];
}

}  // namespace sdgimp::models
