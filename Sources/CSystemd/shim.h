/* libsystemd: sd_notify for Type=notify and the watchdog. */
#include <systemd/sd-daemon.h>
