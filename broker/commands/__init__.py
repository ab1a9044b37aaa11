"""Commands for people who test with the broker: `broker env`, `broker run`,
`broker aws` (wired into broker/cli.py's parser)."""
