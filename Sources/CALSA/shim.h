/* ALSA (libasound2): the capture PCM API. */
#include <alsa/asoundlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* acoustic-edge addition (the one thing Swift cannot write itself): alsa-lib reports details
 * ("Unknown PCM ae_nope", "Unknown field rate") through a C-variadic error handler that prints
 * to stderr. Swift cannot implement a C-variadic function, so this handler keeps the last
 * message of the calling thread instead; Capture appends it to its own one-line errors. */
/* A function-local static: Swift's importer emits inline function bodies but not a header's
 * file-scope static variables. */
static inline char *ae_alsa_last_error_buffer(void) {
    static _Thread_local char text[512];
    return text;
}

static void ae_alsa_error_handler(const char *file, int line, const char *function, int err,
                                  const char *fmt, ...) {
    (void)file; (void)line; (void)function; (void)err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ae_alsa_last_error_buffer(), 512, fmt, ap);
    va_end(ap);
}

/* Routes alsa-lib's error messages into the per-thread buffer (process-wide setting). */
static inline void ae_alsa_install_error_handler(void) {
    snd_lib_error_set_handler(ae_alsa_error_handler);
}

/* Copies the calling thread's last alsa-lib message into `out` (empty when none) and clears it. */
static inline void ae_alsa_take_last_error(char *out, size_t size) {
    if (size == 0) return;
    strncpy(out, ae_alsa_last_error_buffer(), size - 1);
    out[size - 1] = 0;
    ae_alsa_last_error_buffer()[0] = 0;
}
