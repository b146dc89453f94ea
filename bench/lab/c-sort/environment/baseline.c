/* The baseline sort (not editable): bench.c times it beside sort.c for relative_time. */
#include <stdlib.h>

static int compare(const void* x, const void* y) {
    int a = *(const int*)x, b = *(const int*)y;
    return (a > b) - (a < b);
}

void baseline_sort(int* a, size_t n) {
    qsort(a, n, sizeof(int), compare);
}
