// Separator: HTDemucs source separation run natively (OpenBLAS GEMM, FFTW STFT).
