// The server's own view of prefix caching, read from its Prometheus /metrics page. Gannet exports
// gannet_prefix_cache_hit_tokens_total and gannet_prefix_cache_query_tokens_total (counters:
// prompt tokens found in the cache / looked up); a gauge gannet_prefix_cache_hit_rate is used when
// the counters are absent. Other servers (llama.cpp) export no such series: the rate is unknown.
// Owner: bench helper. Thread-safety: pure functions.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "bench/http_client.h"

namespace gannet::bench {

// gannet_* samples of a Prometheus text page, summed over label sets: name -> value.
std::map<std::string, double> parse_gannet_metrics(std::string_view page);

// GET <root>/metrics, where root is the base URL without a trailing "/v1". Empty map when the
// server has no /metrics (any failure: this is optional information).
std::map<std::string, double> scrape_gannet_metrics(const Url& base, const HttpOptions& options);

// Hit rate over a window from two scrapes; -1 when the server does not export it.
double prefix_cache_hit_rate(const std::map<std::string, double>& before, const std::map<std::string, double>& after);

}  // namespace gannet::bench
