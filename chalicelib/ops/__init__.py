"""Commands the operator of a deployment runs by hand (never reachable from the HTTP API or a merchant)."""
