/* OpenBLAS through its CBLAS interface: SGEMM for convolutions and attention. */
#include <cblas.h>
