// DSPTests: tests of DSP against real references.
