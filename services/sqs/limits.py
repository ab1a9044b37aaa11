"""SQS limits and defaults (AWS's numbers)."""

MAX_MESSAGE_SIZE = 1048576          # 1 MiB: MaximumMessageSize upper bound and default
MIN_MESSAGE_SIZE = 1024
MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 1048576
MAX_DELAY = 900
MAX_VISIBILITY = 43200
MAX_WAIT = 20
MIN_RETENTION, MAX_RETENTION, DEFAULT_RETENTION = 60, 1209600, 345600
MAX_RECEIVE_COUNT = 1000
MAX_MESSAGE_ATTRIBUTES = 10
MAX_INFLIGHT_STANDARD = 120000
MAX_INFLIGHT_FIFO = 120000
DEDUP_WINDOW_MS = 5 * 60 * 1000
RECEIVE_ATTEMPT_WINDOW_MS = 5 * 60 * 1000
PURGE_INTERVAL_MS = 60 * 1000
MAX_TAGS = 50
MAX_QUEUE_NAME = 80
MAX_LIST_RESULTS = 1000
QUEUE_LIST_DEFAULT = 1000

DEFAULT_ATTRIBUTES = {
    "DelaySeconds": "0",
    "MaximumMessageSize": str(MAX_MESSAGE_SIZE),
    "MessageRetentionPeriod": str(DEFAULT_RETENTION),
    "ReceiveMessageWaitTimeSeconds": "0",
    "VisibilityTimeout": "30",
    "SqsManagedSseEnabled": "true",
}

FIFO_DEFAULTS = {
    "FifoQueue": "true",
    "ContentBasedDeduplication": "false",
    "DeduplicationScope": "queue",
    "FifoThroughputLimit": "perQueue",
}

# Attributes a client may set (CreateQueue / SetQueueAttributes).
SETTABLE = {
    "DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "Policy",
    "ReceiveMessageWaitTimeSeconds", "VisibilityTimeout", "RedrivePolicy", "RedriveAllowPolicy",
    "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled",
    "FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit",
}
FIFO_ONLY = {"ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"}
READ_ONLY = {
    "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp", "QueueArn",
}
ALL_ATTRIBUTES = SETTABLE | READ_ONLY

MESSAGE_SYSTEM_ATTRIBUTES = (
    "SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp",
    "SequenceNumber", "MessageDeduplicationId", "MessageGroupId", "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)
