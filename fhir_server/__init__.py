"""Onco'Link FHIR R4 server."""
