"""Conformance resources (FHIR packages) and validation of instances against them."""
