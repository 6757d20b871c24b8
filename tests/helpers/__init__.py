"""What the tests share: servers to start, the demo scene, reference computations, job steps.

A package the test modules import from (conftest.py only holds fixtures)."""
