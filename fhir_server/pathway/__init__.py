"""The Onco'Link pathway engine: rules as data (mappings/pathway), enrolment, sequences, forfaits."""
