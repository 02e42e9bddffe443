"""A seeded chaos harness over the real services and DynamoDB adapters on moto (issue 12).

``python -m tests.chaos --seeds 5 --rounds 3`` runs rounds (tests/chaos/harness.py) and checks the invariants
of DESIGN.md after each (tests/chaos/invariants.py); a failing round prints its seed and a one-line replay.
"""
