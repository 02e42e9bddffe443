"""The API contract: request and response models, one module per area. Requests parse into these (and then
into service commands); responses are built from domain objects by their ``of`` converters; GET /openapi.json
is generated from them (chalicelib/api/contract.py)."""
