"""AuditEvents for every access and every refusal (issue 9, ADR 0013): built in `events`, written in the
transaction of the writes they record (`recorder`) or, for reads and refusals, by a background writer
(`writer`) fed by the HTTP middleware (`middleware`)."""
