/* Same i-j-k order with the row pointers hoisted out of the inner loop (the compiler mostly did this
 * already; B is still read down a column). */
void matmul(const float* a, const float* b, float* c, int n) {
    for (int i = 0; i < n; ++i) {
        const float* ai = a + i * n;
        float* ci = c + i * n;
        for (int j = 0; j < n; ++j) {
            const float* bj = b + j;
            float s = 0;
            for (int k = 0; k < n; ++k) s += ai[k] * bj[k * n];
            ci[j] = s;
        }
    }
}
