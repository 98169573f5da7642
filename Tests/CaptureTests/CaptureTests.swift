// CaptureTests: tests of Capture against real references.
