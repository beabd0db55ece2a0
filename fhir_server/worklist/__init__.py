"""The nurses' worklist of the file active: server-rendered pages at `/worklist` (French, no JavaScript)."""
