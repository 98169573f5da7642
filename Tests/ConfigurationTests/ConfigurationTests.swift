// ConfigurationTests: tests of Configuration against real references.
