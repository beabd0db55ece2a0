from tests.validation.support import built_ig, examples, fhir_validator, ig_registry  # noqa: F401
