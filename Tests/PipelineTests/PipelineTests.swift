// PipelineTests: tests of Pipeline against real references.
