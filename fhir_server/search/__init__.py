"""FHIR search: SearchParameter registry, write-time index extraction and query evaluation.

Write side: `registry` compiles each SearchParameter expression per resource type, `extract/` turns the
values into index rows (one module per parameter type) and `indexer` stores them. Read side: `parse`
turns a query string into typed clauses, `predicates/` builds SQL per parameter type against the same
index tables, and `engine` assembles searches, paging, includes and the searchset Bundle.
"""
