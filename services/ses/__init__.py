"""Amazon SES: the v1 (query) and v2 (rest-json) APIs, the SMTP interface's
policy, a durable encrypted mailbox, receipt rules and sending events."""
