// Draws a sweep: concurrent agents (x, log2 scale) against per-agent output speed (y), one point
// per level (green: the level met the SLO target, red: it did not), and the SLO floor as a dashed
// line. Digits and a few letters come from a 5x7 bitmap font. Owner: bench helper.
// Thread-safety: pure function.
#pragma once

#include <string_view>
#include <vector>

#include "bench/png_writer.h"

namespace gannet::bench {

struct SweepPoint {
    int n_agents = 0;
    double agent_tok_s = 0;  // median over agents of their speed at the SLO percentile
    bool is_passing = false;
};

Image draw_sweep_plot(const std::vector<SweepPoint>& points, double slo_tok_s);

// Draws `text` with its top-left corner at (x, y), each font pixel a scale x scale square. Characters
// outside the font are drawn as blanks.
void draw_text(Image* image, int x, int y, std::string_view text, Rgb color, int scale);

// A 1-pixel line from (x0, y0) to (x1, y1) (Bresenham); dash > 0 draws dash pixels on, dash off.
void draw_line(Image* image, int x0, int y0, int x1, int y1, Rgb color, int dash = 0);
// A filled disc of radius r centred on (cx, cy).
void draw_disc(Image* image, int cx, int cy, int r, Rgb color);

}  // namespace gannet::bench
