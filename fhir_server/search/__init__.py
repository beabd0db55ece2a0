"""FHIR search: SearchParameter registry, write-time index extraction and query evaluation.

Write side: `registry` compiles each SearchParameter expression per resource type (`fastpath` for plain
paths, `fhirpath` for the rest), `extract/` turns the values into index rows (one module per parameter
type) and `indexer` stores them in the tables of `tables`.

Read side: `parse` turns a query string into clauses, `predicates/` builds the SQL of each parameter
type over the same tables, `conditions` adds what all types share (`:missing`, `:not`, chains, `_has`)
and picks the driving lookup, `sorting` orders and pages with keyset cursors, `include` follows
references, `subsetting` applies `_summary`/`_elements`, and `engine` assembles the searchset Bundle.
"""
