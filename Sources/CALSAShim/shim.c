#include "CALSAShim.h"

#include <alsa/asoundlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The calling thread's last alsa-lib message. */
static _Thread_local char last_error[512];

static void error_handler(const char *file, int line, const char *function, int err, const char *fmt, ...) {
    (void)file; (void)line; (void)function; (void)err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
}

void ae_alsa_install_error_handler(void) {
    snd_lib_error_set_handler(error_handler);
}

void ae_alsa_take_last_error(char *out, size_t size) {
    if (size == 0) return;
    strncpy(out, last_error, size - 1);
    out[size - 1] = 0;
    last_error[0] = 0;
}
