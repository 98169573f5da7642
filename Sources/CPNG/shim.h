/* libpng 1.6: the PNG encoder of `acoustic-edge inspect --png` (its simplified
   png_image API, which reports errors by return value instead of longjmp). */
#include <png.h>
