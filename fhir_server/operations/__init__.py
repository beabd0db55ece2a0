"""FHIR operations ($validate…) and the routes that serve the implementation guide."""
