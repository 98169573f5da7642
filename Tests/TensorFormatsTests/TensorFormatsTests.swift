// TensorFormatsTests: tests of TensorFormats against real references.
