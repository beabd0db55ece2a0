"""`python -m fhir_server` is the `oncolink` command."""

from .cli import app

app()
