/* FFTW 3, single precision (libfftw3f): real FFTs for STFT/ISTFT. */
#include <fftw3.h>
