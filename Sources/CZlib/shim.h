/* zlib: CRC-32 for the zip container of .pt files. */
#include <zlib.h>
