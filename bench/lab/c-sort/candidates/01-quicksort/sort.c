/* Quicksort with inlined comparisons (median of three), no callback per comparison. */
#include <stddef.h>

static void swap(int* a, int* b) {
    int t = *a;
    *a = *b;
    *b = t;
}

static void quick(int* a, ptrdiff_t lo, ptrdiff_t hi) {
    while (lo < hi) {
        ptrdiff_t mid = lo + (hi - lo) / 2;
        if (a[mid] < a[lo]) swap(&a[mid], &a[lo]);
        if (a[hi] < a[lo]) swap(&a[hi], &a[lo]);
        if (a[hi] < a[mid]) swap(&a[hi], &a[mid]);
        int pivot = a[mid];
        ptrdiff_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) ++i;
            while (a[j] > pivot) --j;
            if (i <= j) {
                swap(&a[i], &a[j]);
                ++i;
                --j;
            }
        }
        if (j - lo < hi - i) {
            quick(a, lo, j);
            lo = i;
        } else {
            quick(a, i, hi);
            hi = j;
        }
    }
}

void sort_ints(int* a, size_t n) {
    if (n > 1) quick(a, 0, (ptrdiff_t)n - 1);
}
