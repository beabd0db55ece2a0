"""Persistence: tables, engine and migrations. Everything above talks to `Database` only."""
