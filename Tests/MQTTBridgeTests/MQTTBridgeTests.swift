// MQTTBridgeTests: tests of MQTTBridge against real references.
