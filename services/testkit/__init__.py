"""For people who test with the broker: `/_broker/wait` conditions, HTTP capture
endpoints, and the LocalStack introspection paths existing fixtures call."""
