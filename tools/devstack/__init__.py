# The throwaway stack of the demo, the benchmark, molecule and the tests (README.md beside this file).
