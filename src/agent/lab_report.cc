#include "agent/lab_report.h"

#include <algorithm>
#include <cmath>

#include "bench/sweep_plot.h"

namespace gannet::agent {
namespace {

using Json = nlohmann::json;

Json optional_number(const std::optional<double>& v) {
    return v.has_value() && std::isfinite(*v) ? Json(*v) : Json(nullptr);
}

}  // namespace

Json lab_run_json(const LabRun& run, const LabTask& task) {
    Json iterations = Json::array();
    for (const LabIteration& it : run.iterations) {
        iterations.push_back({{"index", it.index},
                              {"t_s", it.t_s},
                              {"description", it.description},
                              {"measured", it.is_measured},
                              {"metric", optional_number(it.metric)},
                              {"reward", it.reward},
                              {"gate", it.gate},
                              {"best_reward", it.best_reward},
                              {"best_metric", optional_number(it.best_metric)},
                              {"budget_used", it.budget_used},
                              {"tokens_used", it.n_tokens_used}});
    }
    return Json{{"task", run.task},
                {"agent", run.agent},
                {"metric", task.metric_name},
                {"direction", direction_name(task.reward.direction)},
                {"reward_kind", reward_kind_name(task.reward.kind)},
                {"baseline", task.reward.baseline},
                {"reference", task.reward.reference},
                {"reward", run.final.reward.value},
                {"final_metric", optional_number(run.final.metric)},
                {"final_gate", run.final.reward.gate},
                {"stop_reason", run.stop_reason},
                {"iterations_total", static_cast<int>(run.iterations.size())},
                {"iterations_measured", run.n_measured},
                {"time_to_best_s", run.time_to_best_s},
                {"elapsed_s", run.elapsed_s},
                {"tokens_used", run.n_tokens_used},
                {"budget_used", run.budget_used},
                {"budget", {{"wall_clock_s", task.budget_wall_clock_s}, {"tokens", task.budget_tokens}}},
                {"measured_improvement", run.has_measured_improvement},
                {"premature_termination", run.is_premature_termination},
                {"budget_burn", run.is_budget_burn},
                {"thresholds",
                 {{"early_stop_unused", run.detectors.early_stop_unused},
                  {"early_stop_reward", run.detectors.early_stop_reward},
                  {"burn_used", run.detectors.burn_used}}},
                {"iterations", std::move(iterations)}};
}

bench::Image draw_reward_curve(const LabRun& run) {
    constexpr int kW = 640, kH = 400, kLeft = 70, kRight = 30, kTop = 50, kBottom = 60;
    constexpr bench::Rgb kWhite{255, 255, 255}, kAxis{40, 40, 40}, kGrid{225, 225, 225}, kCurve{40, 90, 200},
        kPoint{30, 160, 60}, kThreshold{210, 40, 40};
    bench::Image im(kW, kH, kWhite);
    const int pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
    const double x_max = std::max(1.0, run.budget_used);
    auto px = [&](double used) {
        return kLeft + static_cast<int>(std::lround(used / x_max * pw));
    };
    auto py = [&](double reward) {
        return kTop + ph - static_cast<int>(std::lround(reward * ph));
    };
    for (int i = 0; i <= 4; ++i) {
        bench::draw_line(&im, kLeft, py(i * 0.25), kLeft + pw, py(i * 0.25), kGrid);
        bench::draw_text(&im, kLeft - 56, py(i * 0.25) - 7, str_printf("%.2f", i * 0.25), kAxis, 2);
        bench::draw_text(&im, px(i * 0.25 * x_max) - 18, kTop + ph + 10, str_printf("%.0f%%", i * 25 * x_max), kAxis,
                         2);
    }
    bench::draw_line(&im, kLeft, kTop, kLeft, kTop + ph, kAxis);
    bench::draw_line(&im, kLeft, kTop + ph, kLeft + pw, kTop + ph, kAxis);
    // The detectors' thresholds: early stop left of 1 - unused, burn right of burn_used.
    bench::draw_line(&im, px(1 - run.detectors.early_stop_unused), kTop, px(1 - run.detectors.early_stop_unused),
                     kTop + ph, kThreshold, /*dash=*/5);
    bench::draw_line(&im, px(run.detectors.burn_used), kTop, px(run.detectors.burn_used), kTop + ph, kThreshold,
                     /*dash=*/5);
    double prev_used = 0, prev_best = 0;
    for (const LabIteration& it : run.iterations) {
        bench::draw_line(&im, px(prev_used), py(prev_best), px(it.budget_used), py(prev_best), kCurve);
        bench::draw_line(&im, px(it.budget_used), py(prev_best), px(it.budget_used), py(it.best_reward), kCurve);
        if (it.is_measured) {
            bench::draw_disc(&im, px(it.budget_used), py(it.reward), 4, kPoint);
        }
        prev_used = it.budget_used;
        prev_best = it.best_reward;
    }
    bench::draw_text(&im, kLeft + pw / 2 - 66, kH - 24, "budget used", kAxis, 2);
    bench::draw_text(&im, 10, 10,
                     str_printf("%s %s reward %.2f%s%s", run.task.c_str(), run.agent.c_str(), run.final.reward.value,
                                run.is_premature_termination ? " EARLY" : "", run.is_budget_burn ? " BURN" : ""),
                     kAxis, 2);
    return im;
}

}  // namespace gannet::agent
