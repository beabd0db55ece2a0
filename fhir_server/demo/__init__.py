"""`oncolink demo`: a synthetic hospital written into a running server through the real paths (MLLP,
FHIR REST and operations, the worklist form, the server's MSSanté worker)."""
