/* Reference: LSD radix sort, 4 passes of 8 bits over a scratch buffer; the sign bit is flipped so
 * negative ints order first. O(n) with sequential memory traffic. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void sort_ints(int* a, size_t n) {
    if (n < 2) return;
    uint32_t* x = (uint32_t*)a;
    uint32_t* tmp = malloc(n * sizeof(uint32_t));
    size_t count[4][256];
    memset(count, 0, sizeof(count));
    for (size_t i = 0; i < n; ++i) {
        x[i] ^= 0x80000000u;
        for (int p = 0; p < 4; ++p) count[p][(x[i] >> (8 * p)) & 0xFF]++;
    }
    uint32_t* from = x;
    uint32_t* to = tmp;
    for (int p = 0; p < 4; ++p) {
        size_t sum = 0;
        for (int b = 0; b < 256; ++b) {
            size_t c = count[p][b];
            count[p][b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; ++i) to[count[p][(from[i] >> (8 * p)) & 0xFF]++] = from[i];
        uint32_t* t = from;
        from = to;
        to = t;
    }
    for (size_t i = 0; i < n; ++i) x[i] ^= 0x80000000u;  /* 4 passes: the result is back in x */
    free(tmp);
}
