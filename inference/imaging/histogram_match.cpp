#include "histogram_match.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "../status.h"

namespace sdgimp::imaging {
namespace {

// np.unique(values, return_counts=True) (and, when wanted, return_inverse).
void unique_counts(const std::vector<double>& values, std::vector<double>* uniq, std::vector<double>* counts,
                   std::vector<size_t>* inverse) {
    std::vector<size_t> order(values.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
    if (inverse) inverse->assign(values.size(), 0);
    for (size_t k = 0; k < order.size(); ++k) {
        const double v = values[order[k]];
        if (uniq->empty() || uniq->back() != v) {
            uniq->push_back(v);
            counts->push_back(0);
        }
        counts->back() += 1;
        if (inverse) (*inverse)[order[k]] = uniq->size() - 1;
    }
}

}  // namespace

double numpy_interp(double x, const std::vector<double>& xp, const std::vector<double>& fp) {
    const size_t n = xp.size();
    if (std::isnan(x)) return x;
    if (x > xp[n - 1]) return fp[n - 1];
    if (x < xp[0]) return fp[0];
    const size_t j = static_cast<size_t>(std::upper_bound(xp.begin(), xp.end(), x) - xp.begin()) - 1;
    if (j == n - 1 || xp[j] == x) return fp[j];
    const double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    double r = slope * (x - xp[j]) + fp[j];
    if (std::isnan(r)) {
        r = slope * (x - xp[j + 1]) + fp[j + 1];
        if (std::isnan(r) && fp[j] == fp[j + 1]) r = fp[j];
    }
    return r;
}

std::vector<double> match_cumulative_cdf(const std::vector<double>& source, const std::vector<double>& templ) {
    if (source.empty() || templ.empty()) throw Error(ErrorCode::kInternal, "Histogram matching needs pixels on both sides.");
    std::vector<double> src_values, src_counts, tmpl_values, tmpl_counts;
    std::vector<size_t> inverse;
    unique_counts(source, &src_values, &src_counts, &inverse);
    unique_counts(templ, &tmpl_values, &tmpl_counts, nullptr);
    // Quantiles as NumPy forms them: integer running counts divided by the size.
    std::vector<double> src_q(src_counts.size()), tmpl_q(tmpl_counts.size());
    double run = 0;
    for (size_t i = 0; i < src_counts.size(); ++i) src_q[i] = (run += src_counts[i]) / static_cast<double>(source.size());
    run = 0;
    for (size_t i = 0; i < tmpl_counts.size(); ++i) tmpl_q[i] = (run += tmpl_counts[i]) / static_cast<double>(templ.size());
    std::vector<double> mapped(src_values.size());
    for (size_t i = 0; i < mapped.size(); ++i) mapped[i] = numpy_interp(src_q[i], tmpl_q, tmpl_values);
    std::vector<double> out(source.size());
    for (size_t i = 0; i < out.size(); ++i) out[i] = mapped[inverse[i]];
    return out;
}

}  // namespace sdgimp::imaging
