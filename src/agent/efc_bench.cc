#include "agent/efc_bench.h"

#include <algorithm>
#include <cmath>

#include "base/status.h"
#include "bench/sweep_plot.h"

namespace gannet::agent {

std::string task_statement(const bench::Trajectory& t) {
    for (const bench::Message& m : t.messages) {
        if (m.role != "user") {
            continue;
        }
        const size_t open = m.content.find("<pr_description>");
        const size_t close = m.content.find("</pr_description>");
        if (open != std::string::npos && close != std::string::npos && close > open) {
            return m.content.substr(open + 16, close - open - 16);
        }
        return m.content;
    }
    return std::string();
}

TrajectoryEfc score_trajectory(const bench::Trajectory& t, const EfcConfig& config) {
    TrajectoryEfc r;
    r.id = t.id;
    r.is_resolved = t.outcome == bench::Outcome::kResolved;
    r.n_steps = static_cast<int64_t>(t.steps.size());
    for (const bench::TrajectoryStep& s : t.steps) {
        r.n_tokens_raw += s.n_tokens_prompt_recorded + s.n_tokens_output;
    }
    EfcScorer scorer(config);
    scorer.begin_task(task_statement(t));
    size_t last_assistant = t.messages.size();
    for (size_t i = t.messages.size(); i-- > 0;) {
        if (t.messages[i].role == "assistant") {
            last_assistant = i;
            break;
        }
    }
    const std::string* action = nullptr;
    for (size_t i = 0; i < last_assistant; ++i) {
        const bench::Message& m = t.messages[i];
        if (m.role == "assistant") {
            scorer.add_action(m.content);
            action = &m.content;
        } else if (action != nullptr) {
            scorer.add_tool_event(tool_event_from_observation(*action, m.content));
            ++r.n_tool_calls;
        }
    }
    if (last_assistant < t.messages.size()) {
        scorer.add_action(t.messages[last_assistant].content);  // the final action may still retain results
    }
    r.efc = scorer.efc();
    r.d_task = scorer.d_task();
    r.efc_per_demand = scorer.efc_per_demand();
    r.n_credited = std::count_if(scorer.events().begin(), scorer.events().end(),
                                 [](const EventScore& e) { return e.credit() > 0; });
    return r;
}

namespace {

constexpr bench::Rgb kWhite{255, 255, 255};
constexpr bench::Rgb kAxis{40, 40, 40};
constexpr bench::Rgb kGrid{225, 225, 225};
constexpr bench::Rgb kPoint{210, 40, 40};
constexpr bench::Rgb kFitLine{40, 90, 200};

std::string short_number(double v) {
    if (v >= 1e6) {
        return str_printf("%.1fm", v / 1e6);
    }
    if (v >= 1e4) {
        return str_printf("%.0fk", v / 1e3);
    }
    return v >= 10 ? str_printf("%.0f", v) : str_printf("%.2f", v);
}

// One panel at (x0, y0): failure rate (0..1) against ln(1 + x), bins as dots, the fit as a line.
void draw_panel(bench::Image* im, int x0, int y0, int w, int h, const MeasureFit& m, const char* x_label) {
    const BinnedFit& f = m.fit;
    if (f.x_mean.empty()) {
        return;
    }
    const double lo = std::log1p(f.x_mean.front()), hi = std::log1p(f.x_mean.back());
    const double span = hi > lo ? hi - lo : 1;
    auto px = [&](double x) {
        return x0 + 10 + static_cast<int>(std::lround((std::log1p(x) - lo) / span * (w - 20)));
    };
    auto py = [&](double rate) {
        return y0 + h - static_cast<int>(std::lround(rate * h));
    };
    for (int i = 0; i <= 4; ++i) {
        bench::draw_line(im, x0, py(i * 0.25), x0 + w, py(i * 0.25), kGrid);
        bench::draw_text(im, x0 - 50, py(i * 0.25) - 7, str_printf("%.2f", i * 0.25), kAxis, 2);
    }
    bench::draw_line(im, x0, y0, x0, y0 + h, kAxis);
    bench::draw_line(im, x0, y0 + h, x0 + w, y0 + h, kAxis);
    int next_free_x = x0 - 100;  // labels skip bins that would overlap the previous label
    for (size_t b = 0; b < f.x_mean.size(); ++b) {
        const std::string label = short_number(f.x_mean[b]);
        const int lx = px(f.x_mean[b]) - 6 * static_cast<int>(label.size());
        if (lx >= next_free_x) {
            bench::draw_text(im, lx, y0 + h + 10, label, kAxis, 2);
            next_free_x = lx + 12 * static_cast<int>(label.size()) + 10;
        }
    }
    const double ya = f.intercept + f.slope * lo, yb = f.intercept + f.slope * hi;
    bench::draw_line(im, px(f.x_mean.front()), py(std::clamp(ya, 0.0, 1.0)), px(f.x_mean.back()),
                     py(std::clamp(yb, 0.0, 1.0)), kFitLine);
    for (size_t b = 0; b < f.x_mean.size(); ++b) {
        bench::draw_disc(im, px(f.x_mean[b]), py(f.failure_rate[b]), 5, kPoint);
    }
    bench::draw_text(im, x0 + w / 2 - 6 * static_cast<int>(std::string_view(x_label).size()), y0 + h + 34, x_label,
                     kAxis, 2);
    bench::draw_text(im, x0, y0 - 26, str_printf("AUC %.3f  R2 %.2f", m.auc, f.r2), kAxis, 2);
}

}  // namespace

bench::Image draw_efc_plot(const EfcSummary& s) {
    constexpr int kPanelW = 400, kPanelH = 300, kLeft = 80, kGap = 110, kTop = 70;
    bench::Image im(kLeft + 2 * kPanelW + kGap + 30, kTop + kPanelH + 80, kWhite);
    bench::draw_text(&im, 10, 10, str_printf("failure rate per bin (%d runs)", s.n_trajectories), kAxis, 2);
    draw_panel(&im, kLeft, kTop, kPanelW, kPanelH, s.efc_per_demand, "EFC/D_task");
    draw_panel(&im, kLeft + kPanelW + kGap, kTop, kPanelW, kPanelH, s.tokens, "raw tokens");
    return im;
}

EfcSummary summarize_efc(const std::vector<TrajectoryEfc>& rows, int n_bins) {
    EfcSummary s;
    s.n_trajectories = static_cast<int>(rows.size());
    std::vector<bool> resolved, failed;
    for (const TrajectoryEfc& r : rows) {
        resolved.push_back(r.is_resolved);
        failed.push_back(!r.is_resolved);
        s.n_resolved += r.is_resolved ? 1 : 0;
    }
    auto measure = [&](MeasureFit* m, auto get) {
        std::vector<double> x;
        for (const TrajectoryEfc& r : rows) {
            x.push_back(static_cast<double>(get(r)));
        }
        m->auc = roc_auc(x, resolved);
        m->fit = binned_failure_fit(x, failed, n_bins);
    };
    measure(&s.efc_per_demand, [](const TrajectoryEfc& r) { return r.efc_per_demand; });
    measure(&s.efc, [](const TrajectoryEfc& r) { return r.efc; });
    measure(&s.tokens, [](const TrajectoryEfc& r) { return r.n_tokens_raw; });
    measure(&s.tool_calls, [](const TrajectoryEfc& r) { return r.n_tool_calls; });
    measure(&s.steps, [](const TrajectoryEfc& r) { return r.n_steps; });
    std::vector<double> per_call, per_demand, tokens, steps;
    for (const TrajectoryEfc& r : rows) {
        per_call.push_back(r.efc / static_cast<double>(std::max<int64_t>(r.n_tool_calls, 1)));
        per_demand.push_back(r.efc_per_demand);
        tokens.push_back(static_cast<double>(r.n_tokens_raw));
        steps.push_back(static_cast<double>(r.n_steps));
    }
    s.auc_efc_per_call = roc_auc(per_call, resolved);
    const std::vector<int> strata = quantile_strata(steps, 5);
    s.auc_efc_matched_steps = stratified_auc(per_demand, resolved, strata);
    s.auc_tokens_matched_steps = stratified_auc(tokens, resolved, strata);
    for (const MeasureFit* m : {&s.tokens, &s.tool_calls, &s.steps}) {
        s.best_raw_discrimination = std::max(s.best_raw_discrimination, std::max(m->auc, 1 - m->auc));
    }
    return s;
}

}  // namespace gannet::agent
