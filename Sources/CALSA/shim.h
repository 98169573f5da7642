/* ALSA (libasound2): the capture PCM API. */
#include <alsa/asoundlib.h>
