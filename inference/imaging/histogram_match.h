// scikit-image's exposure.match_histograms on float data (its _match_cumulative_cdf per channel):
// each distinct source value is mapped to the template value at the same cumulative quantile,
// interpolated with NumPy's interp.
#pragma once

#include <vector>

namespace sdgimp::imaging {

// np.interp(x, xp, fp) for increasing xp (NumPy's compiled loop: ends clamp, exact knots, slopes).
double numpy_interp(double x, const std::vector<double>& xp, const std::vector<double>& fp);

// One channel: source values remapped so their histogram follows the template's. Both non-empty.
std::vector<double> match_cumulative_cdf(const std::vector<double>& source, const std::vector<double>& templ);

}  // namespace sdgimp::imaging
