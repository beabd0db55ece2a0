"""The DPI adapter wired as `oncolink serve` wires it (real app, journal, MLLP on loopback), for the demo's
sender; the fixtures are the DPI tests' own."""

from tests.adapters.dpi.conftest import app, dpi, dpi_settings, fhir

__all__ = ["app", "dpi", "dpi_settings", "fhir"]
