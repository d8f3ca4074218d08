#include "attention.h"

#include <cmath>

namespace sdgimp::models {

namespace {
// Keeps one score block at most this many floats (64 MiB) so 2048px images fit in memory.
constexpr int64_t kMaxScoreElems = int64_t(16) << 20;
}  // namespace

torch::Tensor split_heads(const torch::Tensor& x, int64_t heads) {
    const int64_t b = x.size(0), n = x.size(1), c = x.size(2);
    return x.view({b, n, heads, c / heads}).transpose(1, 2);
}

torch::Tensor merge_heads(const torch::Tensor& x) {
    const int64_t b = x.size(0), h = x.size(1), n = x.size(2), d = x.size(3);
    return x.transpose(1, 2).reshape({b, n, h * d});
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& mask) {
#if defined(TORCH_VERSION_MAJOR) && TORCH_VERSION_MAJOR >= 2
    if (q.is_cuda()) {
        return at::scaled_dot_product_attention(q, k, v, mask.defined() ? c10::optional<at::Tensor>(mask) : c10::nullopt);
    }
#endif
    const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
    const int64_t b = q.size(0), h = q.size(1), n = q.size(2), m = k.size(2);
    const auto qf = q.flatten(0, 1), kt = k.flatten(0, 1).transpose(1, 2), vf = v.flatten(0, 1);
    int64_t rows = std::max<int64_t>(1, kMaxScoreElems / std::max<int64_t>(1, b * h * m));
    if (rows >= n) {
        auto s = torch::bmm(qf, kt).mul_(scale);
        if (mask.defined()) s = s + mask;
        return torch::bmm(s.softmax(-1), vf).view({b, h, n, v.size(-1)});
    }
    auto out = torch::empty({b * h, n, v.size(-1)}, q.options());
    for (int64_t r = 0; r < n; r += rows) {
        const int64_t e = std::min(n, r + rows);
        auto qs = qf.slice(1, r, e);
        auto s = torch::bmm(qs, kt).mul_(scale);
        if (mask.defined()) s = s + mask.slice(0, r, e);
        out.slice(1, r, e).copy_(torch::bmm(s.softmax(-1), vf));
    }
    return out.view({b, h, n, v.size(-1)});
}

}  // namespace sdgimp::models
