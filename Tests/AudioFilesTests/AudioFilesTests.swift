// AudioFilesTests: tests of AudioFiles against real references.
