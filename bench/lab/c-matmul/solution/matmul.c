/* Reference: i-k-j order in 64-wide column blocks of B and C, so the C row block and the B block
 * stay in L1/L2 while k sweeps; restrict lets the compiler vectorise without alias checks. */
void matmul(const float* restrict a, const float* restrict b, float* restrict c, int n) {
    enum { kBlock = 64 };
    for (int i = 0; i < n * n; ++i) c[i] = 0;
    for (int jj = 0; jj < n; jj += kBlock) {
        const int jend = jj + kBlock < n ? jj + kBlock : n;
        for (int i = 0; i < n; ++i) {
            float* restrict ci = c + i * n;
            for (int k = 0; k < n; ++k) {
                const float aik = a[i * n + k];
                const float* restrict bk = b + k * n;
                for (int j = jj; j < jend; ++j) ci[j] += aik * bk[j];
            }
        }
    }
}
