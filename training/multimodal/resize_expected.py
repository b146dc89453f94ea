"""Expected values for src/multimodal/image_preprocess_test.cc, computed with numpy only.

An independent, direct formulation of antialiased bicubic resampling (PIL / torchvision
antialias=True): each output pixel is a 2-D weighted sum with weights wy[i] (x) wx[j], each 1-D
weight vector being Keys' cubic (a = -0.5), stretched by the scale when shrinking and normalised to
sum 1. Run: /usr/bin/python3 training/multimodal/resize_expected.py  (prints C++ initialisers).
"""
import numpy as np


def cubic(x, a=-0.5):
    x = abs(x)
    if x < 1:
        return (a + 2) * x**3 - (a + 3) * x**2 + 1
    if x < 2:
        return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
    return 0.0


def weights(n_in, n_out):
    scale = n_in / n_out
    support = 2 * scale if scale >= 1 else 2.0
    inv = 1 / scale if scale >= 1 else 1.0
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        c = (i + 0.5) * scale
        lo = max(int(c - support + 0.5), 0)
        hi = min(int(c + support + 0.5), n_in)
        w = np.array([cubic((j - c + 0.5) * inv) for j in range(lo, hi)])
        m[i, lo:hi] = w / w.sum()
    return m


def pattern(h, w):
    """The test's input: r = (7x + 3y) % 256, g = (x*y*5) % 256, b = 255 - r."""
    img = np.zeros((h, w, 3))
    for y in range(h):
        for x in range(w):
            r = (7 * x + 3 * y) % 256
            img[y, x] = (r, (x * y * 5) % 256, 255 - r)
    return img / 255.0


def resize(img, oh, ow):
    wy, wx = weights(img.shape[0], oh), weights(img.shape[1], ow)
    out = np.einsum("ia,jb,abc->ijc", wy, wx, img)
    return np.clip(out, 0, 1)


for (h, w, oh, ow) in [(5, 7, 3, 4), (2, 3, 5, 4), (9, 4, 2, 6)]:
    out = resize(pattern(h, w), oh, ow).reshape(-1)
    print(f"// {h}x{w} -> {oh}x{ow}")
    print("{" + ", ".join(f"{v:.7f}f" for v in out) + "}")
