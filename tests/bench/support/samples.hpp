// Latency samples of a benchmark and their nearest-rank percentiles.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace brindle::bench {

struct Samples {
  std::vector<double> ms;
  int timeouts = 0;  // runs that gave no sample

  // The p-th percentile (nearest rank), 0 without samples.
  double pct(double p) const {
    if (ms.empty()) {
      return 0;
    }
    std::vector<double> v = ms;
    std::sort(v.begin(), v.end());
    const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
    return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
  }
  double max() const { return ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end()); }
};

}  // namespace brindle::bench
