// MQTTBridge: delivery and control over MQTT v5 through libmosquitto.
