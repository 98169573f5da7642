/* libsoxr: high-quality sample-rate conversion of input files. */
#include <soxr.h>
