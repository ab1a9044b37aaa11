"""SNS: topics, subscriptions, filter policies, publishing and fan-out."""
