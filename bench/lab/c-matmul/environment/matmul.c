/* C = A * B for row-major n x n floats. Baseline: the textbook i-j-k loop (B read down a column). */
void matmul(const float* a, const float* b, float* c, int n) {
    for (int i = 0; i < n; ++i) {
        for (int j = 0; j < n; ++j) {
            float s = 0;
            for (int k = 0; k < n; ++k) s += a[i * n + k] * b[k * n + j];
            c[i * n + j] = s;
        }
    }
}
