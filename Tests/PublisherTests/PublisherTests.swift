// PublisherTests: tests of Publisher against real references.
