/* acoustic-edge's one addition to alsa-lib (the one thing Swift cannot write itself):
 * alsa-lib reports details ("Unknown PCM ae_nope", "Unknown field rate") through a
 * C-variadic error handler that prints to stderr. Swift cannot implement a C-variadic
 * function, so shim.c installs a handler that keeps the last message of the calling thread
 * instead; Capture appends it to its own one-line errors. */
#ifndef AE_CALSA_SHIM_H
#define AE_CALSA_SHIM_H

#include <stddef.h>

/* Routes alsa-lib's error messages into the per-thread buffer (a process-wide setting). */
void ae_alsa_install_error_handler(void);

/* Copies the calling thread's last alsa-lib message into `out` (empty when none) and clears it. */
void ae_alsa_take_last_error(char *out, size_t size);

#endif
