/*
 * capture_fault_plugin.c: an ALSA capture PCM for acoustic-edge's capture tests (CaptureTests
 * compiles it into libasound_module_pcm_aefault.so at test time and loads it through a private
 * ALSA configuration, `pcm_type.aefault.lib`). It is ALSA's own external-plugin API (ioplug):
 * alsa-lib does the state machine, snd_pcm_recover and the error codes exactly as for a
 * sound card; the plugin only decides what the "hardware" does:
 *
 *   pcm.name {
 *       type aefault
 *       format "S16_LE"     # FLOAT_LE (default) or S16_LE: the only format offered
 *       rate 16000          # the only rate offered (default 16000)
 *       channels 4          # the only channel count offered (default 8)
 *       xrun_at 2500        # after this many frames, one overrun (-EPIPE) losing 333 frames
 *       suspend_at 2500     # after this many frames, one suspend (-ESTRPIPE) losing 333 frames
 *       gone_at 2500        # after this many frames, the device vanishes (-ENODEV) for good
 *       clock 1             # run on the clock like a sound card (a timerfd wakes poll once
 *                           # a period); without it a period is always ready, like `null`
 *   }
 *
 * Every sample tells where it came from: frame n (of this open) and channel c hold
 * (n * 16 + c) / 2^24 as FLOAT_LE (exact for n < 2^20) or (n * 8 + c) mod 32768 as S16_LE.
 */
#include <alsa/asoundlib.h>
#include <alsa/pcm_external.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    snd_pcm_ioplug_t io;
    snd_pcm_format_t format;
    long long next_frame;  /* the source position (jumps when frames are "lost") */
    long long delivered;   /* frames handed to the application by this open */
    long long xrun_at, suspend_at, gone_at;
    int xrun_done, suspend_done;
    int clocked;
    double started;        /* CLOCK_MONOTONIC seconds at start (clocked) */
} aefault_t;

static double monotonic_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int af_start(snd_pcm_ioplug_t *io) {
    aefault_t *af = io->private_data;
    if (af->clocked) {
        af->started = monotonic_now();
        double period = (double)io->period_size / (double)io->rate;
        struct itimerspec its;
        its.it_interval.tv_sec = (time_t)period;
        its.it_interval.tv_nsec = (long)((period - (double)(time_t)period) * 1e9);
        its.it_value = its.it_interval;
        timerfd_settime(io->poll_fd, 0, &its, NULL);
    }
    return 0;
}

static int af_stop(snd_pcm_ioplug_t *io) {
    aefault_t *af = io->private_data;
    if (af->clocked) {
        struct itimerspec off;
        memset(&off, 0, sizeof off);
        timerfd_settime(io->poll_fd, 0, &off, NULL);
    }
    return 0;
}

/* Clocked: the timer's expiry is consumed, and the PCM is readable when a period is. */
static int af_poll_revents(snd_pcm_ioplug_t *io, struct pollfd *pfd, unsigned int nfds,
                           unsigned short *revents) {
    (void)nfds;
    unsigned long long expirations;
    if (pfd[0].revents & POLLIN) {
        if (read(io->poll_fd, &expirations, sizeof expirations) < 0) { /* nothing pending */ }
    }
    snd_pcm_sframes_t avail = snd_pcm_avail_update(io->pcm);
    *revents = (avail >= (snd_pcm_sframes_t)io->period_size) ? POLLIN : 0;
    return 0;
}

static snd_pcm_sframes_t af_pointer(snd_pcm_ioplug_t *io) {
    aefault_t *af = io->private_data;
    if (af->gone_at >= 0 && af->delivered >= af->gone_at) return -ENODEV;
    if (af->xrun_at >= 0 && !af->xrun_done && af->delivered >= af->xrun_at) {
        af->xrun_done = 1;
        af->next_frame += 333;
        return -EPIPE;
    }
    if (af->suspend_at >= 0 && !af->suspend_done && af->delivered >= af->suspend_at) {
        af->suspend_done = 1;
        af->next_frame += 333;
        return -ESTRPIPE;
    }
    if (af->clocked) {
        if (io->state != SND_PCM_STATE_RUNNING) return io->appl_ptr % io->buffer_size;
        long long elapsed = (long long)((monotonic_now() - af->started) * (double)io->rate);
        return (snd_pcm_sframes_t)(elapsed % (long long)io->buffer_size);
    }
    /* Always exactly one period ahead of the application. */
    return (io->appl_ptr + io->period_size) % io->buffer_size;
}

static snd_pcm_sframes_t af_transfer(snd_pcm_ioplug_t *io, const snd_pcm_channel_area_t *areas,
                                     snd_pcm_uframes_t offset, snd_pcm_uframes_t size) {
    aefault_t *af = io->private_data;
    for (snd_pcm_uframes_t f = 0; f < size; f++) {
        long long n = af->next_frame + (long long)f;
        for (unsigned int c = 0; c < io->channels; c++) {
            const snd_pcm_channel_area_t *a = &areas[c];
            char *p = (char *)a->addr + (a->first + a->step * (offset + f)) / 8;
            if (af->format == SND_PCM_FORMAT_FLOAT_LE) {
                float v = (float)((n % (1LL << 20)) * 16 + c) / 16777216.0f;
                memcpy(p, &v, sizeof v);
            } else {
                short v = (short)((n * 8 + c) % 32768);
                memcpy(p, &v, sizeof v);
            }
        }
    }
    af->next_frame += (long long)size;
    af->delivered += (long long)size;
    return (snd_pcm_sframes_t)size;
}

static int af_close(snd_pcm_ioplug_t *io) {
    aefault_t *af = io->private_data;
    close(io->poll_fd);
    free(af);
    return 0;
}

static int af_prepare(snd_pcm_ioplug_t *io) { (void)io; return 0; }

static const snd_pcm_ioplug_callback_t af_clocked_callback = {
    .start = af_start,
    .stop = af_stop,
    .pointer = af_pointer,
    .transfer = af_transfer,
    .close = af_close,
    .prepare = af_prepare,
    .poll_revents = af_poll_revents,
};

static const snd_pcm_ioplug_callback_t af_callback = {
    .start = af_start,
    .stop = af_stop,
    .pointer = af_pointer,
    .transfer = af_transfer,
    .close = af_close,
    .prepare = af_prepare,
};

SND_PCM_PLUGIN_DEFINE_FUNC(aefault) {
    snd_config_iterator_t i, next;
    const char *format_name = "FLOAT_LE";
    long rate = 16000, channels = 8, xrun_at = -1, suspend_at = -1, gone_at = -1, clocked = 0;
    (void)root;
    snd_config_for_each(i, next, conf) {
        snd_config_t *n = snd_config_iterator_entry(i);
        const char *id;
        if (snd_config_get_id(n, &id) < 0) continue;
        if (!strcmp(id, "comment") || !strcmp(id, "type") || !strcmp(id, "hint")) continue;
        if (!strcmp(id, "format")) { snd_config_get_string(n, &format_name); continue; }
        if (!strcmp(id, "rate")) { snd_config_get_integer(n, &rate); continue; }
        if (!strcmp(id, "channels")) { snd_config_get_integer(n, &channels); continue; }
        if (!strcmp(id, "xrun_at")) { snd_config_get_integer(n, &xrun_at); continue; }
        if (!strcmp(id, "suspend_at")) { snd_config_get_integer(n, &suspend_at); continue; }
        if (!strcmp(id, "gone_at")) { snd_config_get_integer(n, &gone_at); continue; }
        if (!strcmp(id, "clock")) { snd_config_get_integer(n, &clocked); continue; }
        SNDERR("Unknown field %s", id);
        return -EINVAL;
    }
    if (stream != SND_PCM_STREAM_CAPTURE) return -EINVAL;
    snd_pcm_format_t format = snd_pcm_format_value(format_name);
    if (format != SND_PCM_FORMAT_FLOAT_LE && format != SND_PCM_FORMAT_S16_LE) {
        SNDERR("aefault: format must be FLOAT_LE or S16_LE");
        return -EINVAL;
    }
    aefault_t *af = calloc(1, sizeof *af);
    if (!af) return -ENOMEM;
    af->format = format;
    af->xrun_at = xrun_at;
    af->suspend_at = suspend_at;
    af->gone_at = gone_at;
    af->clocked = clocked != 0;
    af->io.version = SND_PCM_IOPLUG_VERSION;
    af->io.name = "acoustic-edge fault-injecting test capture";
    af->io.callback = af->clocked ? &af_clocked_callback : &af_callback;
    af->io.private_data = af;
    af->io.mmap_rw = 0;
    af->io.poll_fd = af->clocked ? timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
                                 : open("/dev/zero", O_RDONLY); /* always readable: no clock */
    af->io.poll_events = POLLIN;
    int err = snd_pcm_ioplug_create(&af->io, name, stream, mode);
    if (err < 0) {
        close(af->io.poll_fd);
        free(af);
        return err;
    }
    unsigned int access[] = { SND_PCM_ACCESS_RW_INTERLEAVED };
    unsigned int formats[] = { (unsigned int)format };
    snd_pcm_ioplug_set_param_list(&af->io, SND_PCM_IOPLUG_HW_ACCESS, 1, access);
    snd_pcm_ioplug_set_param_list(&af->io, SND_PCM_IOPLUG_HW_FORMAT, 1, formats);
    snd_pcm_ioplug_set_param_minmax(&af->io, SND_PCM_IOPLUG_HW_CHANNELS, channels, channels);
    snd_pcm_ioplug_set_param_minmax(&af->io, SND_PCM_IOPLUG_HW_RATE, rate, rate);
    snd_pcm_ioplug_set_param_minmax(&af->io, SND_PCM_IOPLUG_HW_PERIODS, 2, 1024);
    snd_pcm_ioplug_set_param_minmax(&af->io, SND_PCM_IOPLUG_HW_BUFFER_BYTES, 64, 64 * 1024 * 1024);
    snd_pcm_ioplug_set_param_minmax(&af->io, SND_PCM_IOPLUG_HW_PERIOD_BYTES, 32, 32 * 1024 * 1024);
    *pcmp = af->io.pcm;
    return 0;
}

SND_PCM_PLUGIN_SYMBOL(aefault);
