"""A conformance run against any FHIR R4 server, driven by what its CapabilityStatement claims.

It only talks HTTP to the server under test (never the storage), creates its own tagged test data,
checks each claimed interaction and search feature precisely and deletes what it made.
"""
