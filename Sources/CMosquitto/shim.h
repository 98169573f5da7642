/* libmosquitto: the MQTT v5 client. */
#include <mosquitto.h>
