"""devstack: smscast's embedded local runtime (moto as the AWS stand-in, the API, and pumps that play Lambda)."""
