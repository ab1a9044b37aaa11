#!/usr/bin/env bash
# Run under `broker run`: the AWS CLI configured by nothing but the environment it sets.
set -euo pipefail
Q=$(broker aws sqs create-queue --queue-name "cli-run-$$" --query QueueUrl --output text)
# The AWS CLI v1 ignores AWS_ENDPOINT_URL for SQS: `broker aws` passes --endpoint-url; by hand:
aws --endpoint-url "$AWS_ENDPOINT_URL_SQS" sqs send-message --queue-url "$Q" --message-body "hello from the cli" >/dev/null
echo "account=$(aws sts get-caller-identity --query Account --output text)"   # STS honours AWS_ENDPOINT_URL
echo "body=$(broker aws sqs receive-message --queue-url "$Q" --wait-time-seconds 5 --query 'Messages[0].Body' --output text)"
echo "queue=$Q"
echo "data_dir=$BROKER_SERVER_DATA_DIR"
exit "${EXIT_CODE:-0}"
