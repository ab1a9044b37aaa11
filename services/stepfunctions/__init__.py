"""AWS Step Functions: the Amazon States Language interpreter and its API."""
