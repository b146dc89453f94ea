/* Sorts n ints ascending in place. Baseline: the C library's qsort with a comparison callback. */
#include <stdlib.h>

static int compare(const void* x, const void* y) {
    int a = *(const int*)x, b = *(const int*)y;
    return (a > b) - (a < b);
}

void sort_ints(int* a, size_t n) {
    qsort(a, n, sizeof(int), compare);
}
