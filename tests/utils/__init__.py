"""Helpers shared by the tests: facegate's stores over a fresh database and a clock moved by hand
(``stores``, ``clock``), a fake NocoDB as a plain function behind ``httpx.MockTransport``
(``fake_nocodb``), and the set-ups of the moderation, erasure, hostile and face tests. Benchmarks and
scripts share ``harness/`` instead; nothing outside ``tests/`` imports from here."""
