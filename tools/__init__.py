# Developer tooling that is neither product code nor tests (see tools/devstack/README.md).
