#include "bench/sweep_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "base/status.h"

namespace gannet::bench {
namespace {

struct Glyph {
    char c;
    uint8_t rows[7];  // 5 bits per row, bit 4 = leftmost column
};

// Drawn for this file: digits, '.', '/', '=' and the letters of the axis labels.
constexpr Glyph kFont[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}},
    {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}},
    {'3', {0x1E, 0x01, 0x01, 0x0E, 0x01, 0x01, 0x1E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}},
    {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}},
    {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}},
    {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}},
    {'/', {0x01, 0x02, 0x02, 0x04, 0x08, 0x08, 0x10}},
    {'=', {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}},
    {'a', {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F}},
    {'e', {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E}},
    {'g', {0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E}},
    {'k', {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}},
    {'n', {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'o', {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E}},
    {'s', {0x00, 0x00, 0x0F, 0x10, 0x0E, 0x01, 0x1E}},
    {'t', {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06}},
    {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}},
    // For the EFC plot's labels (agent/efc_bench.cc).
    {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}},
    {'D', {0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}},
    {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'c', {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E}},
    {'d', {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F}},
    {'f', {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08}},
    {'i', {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E}},
    {'l', {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'m', {0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11}},
    {'p', {0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10}},
    {'r', {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}},
    {'u', {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D}},
    {'w', {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A}},
    {'x', {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11}},
    {'v', {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'b', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E}},
    {'h', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'y', {0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E}},
    {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {':', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}},
    {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'N', {0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x11}},
    {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
    {'Y', {0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04}},
    {'q', {0x00, 0x00, 0x0F, 0x11, 0x0F, 0x01, 0x01}},
    {'j', {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C}},
    {'z', {0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F}},
};

constexpr Rgb kWhite{255, 255, 255};
constexpr Rgb kAxis{40, 40, 40};
constexpr Rgb kGrid{225, 225, 225};
constexpr Rgb kSeries{40, 90, 200};
constexpr Rgb kPass{30, 160, 60};
constexpr Rgb kFail{210, 40, 40};

}  // namespace

void draw_line(Image* im, int x0, int y0, int x1, int y1, Rgb c, int dash) {
    const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (int i = 0;; ++i) {
        if (dash == 0 || (i / dash) % 2 == 0) {
            im->set(x0, y0, c);
        }
        if (x0 == x1 && y0 == y1) {
            break;
        }
        const int e2 = 2 * err;
        if (e2 >= dy) {
            err += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            err += dx;
            y0 += sy;
        }
    }
}

void draw_disc(Image* im, int cx, int cy, int r, Rgb c) {
    for (int y = -r; y <= r; ++y) {
        for (int x = -r; x <= r; ++x) {
            if (x * x + y * y <= r * r) {
                im->set(cx + x, cy + y, c);
            }
        }
    }
}

void draw_text(Image* image, int x, int y, std::string_view text, Rgb color, int scale) {
    for (char ch : text) {
        const Glyph* g = std::find_if(std::begin(kFont), std::end(kFont), [ch](const Glyph& f) { return f.c == ch; });
        if (g != std::end(kFont)) {
            for (int row = 0; row < 7; ++row) {
                for (int col = 0; col < 5; ++col) {
                    if ((g->rows[row] >> (4 - col)) & 1) {
                        for (int s = 0; s < scale * scale; ++s) {
                            image->set(x + col * scale + s % scale, y + row * scale + s / scale, color);
                        }
                    }
                }
            }
        }
        x += 6 * scale;
    }
}

Image draw_sweep_plot(const std::vector<SweepPoint>& points, double slo_tok_s) {
    constexpr int kWidth = 720, kHeight = 440;
    constexpr int kLeft = 70, kRight = 30, kTop = 40, kBottom = 60;
    Image im(kWidth, kHeight, kWhite);
    const int plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;

    double y_max = slo_tok_s;
    double x_max = 1;
    for (const SweepPoint& p : points) {
        y_max = std::max(y_max, std::isfinite(p.agent_tok_s) ? p.agent_tok_s : 0.0);
        x_max = std::max(x_max, std::log2(std::max(p.n_agents, 1)));
    }
    // Round tick steps (1, 2 or 5 times a power of ten) so the labels read as plain numbers.
    const double raw_step = std::max(y_max * 1.1, 1.0) / 5;
    const double magnitude = std::pow(10.0, std::floor(std::log10(raw_step)));
    const double step = raw_step <= magnitude       ? magnitude
                        : raw_step <= 2 * magnitude ? 2 * magnitude
                        : raw_step <= 5 * magnitude ? 5 * magnitude
                                                    : 10 * magnitude;
    const int n_ticks = static_cast<int>(std::ceil(std::max(y_max * 1.1, 1.0) / step));
    y_max = n_ticks * step;
    auto px = [&](int agents) {
        return kLeft + static_cast<int>(std::lround(std::log2(std::max(agents, 1)) / x_max * (plot_w - 20))) + 10;
    };
    auto py = [&](double v) {
        return kTop + plot_h - static_cast<int>(std::lround(v / y_max * plot_h));
    };

    for (int i = 0; i <= n_ticks; ++i) {
        const double v = step * i;
        draw_line(&im, kLeft, py(v), kLeft + plot_w, py(v), kGrid);
        const std::string label = step >= 1 ? std::to_string(static_cast<long long>(std::lround(v)))
                                            : str_printf("%.*f", static_cast<int>(-std::log10(step) + 0.99), v);
        draw_text(&im, kLeft - 8 - 12 * static_cast<int>(label.size()), py(v) - 7, label, kAxis, 2);
    }
    draw_line(&im, kLeft, kTop, kLeft, kTop + plot_h, kAxis);
    draw_line(&im, kLeft, kTop + plot_h, kLeft + plot_w, kTop + plot_h, kAxis);
    for (const SweepPoint& p : points) {
        draw_line(&im, px(p.n_agents), kTop + plot_h, px(p.n_agents), kTop + plot_h + 5, kAxis);
        const std::string label = std::to_string(p.n_agents);
        draw_text(&im, px(p.n_agents) - 6 * static_cast<int>(label.size()), kTop + plot_h + 10, label, kAxis, 2);
    }
    draw_text(&im, kLeft + plot_w / 2 - 36, kHeight - 24, "agents", kAxis, 2);
    draw_text(&im, 8, 10, "tok/s", kAxis, 2);

    draw_line(&im, kLeft, py(slo_tok_s), kLeft + plot_w, py(slo_tok_s), kFail, /*dash=*/6);
    draw_line(&im, kLeft, py(slo_tok_s) + 1, kLeft + plot_w, py(slo_tok_s) + 1, kFail, /*dash=*/6);
    const std::string slo_label = "SLO " + std::to_string(static_cast<long long>(std::lround(slo_tok_s)));
    draw_text(&im, kLeft + plot_w - 12 * static_cast<int>(slo_label.size()), py(slo_tok_s) - 18, slo_label, kFail, 2);

    for (size_t i = 0; i + 1 < points.size(); ++i) {
        if (std::isfinite(points[i].agent_tok_s) && std::isfinite(points[i + 1].agent_tok_s)) {
            draw_line(&im, px(points[i].n_agents), py(points[i].agent_tok_s), px(points[i + 1].n_agents),
                      py(points[i + 1].agent_tok_s), kSeries);
        }
    }
    for (const SweepPoint& p : points) {
        if (std::isfinite(p.agent_tok_s)) {
            draw_disc(&im, px(p.n_agents), py(p.agent_tok_s), 5, p.is_passing ? kPass : kFail);
        }
    }
    return im;
}

}  // namespace gannet::bench
