// SeparatorTests: tests of Separator against real references.
