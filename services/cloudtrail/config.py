"""Config keys of CloudTrail."""

from broker.runtime.config import Key

KEYS = (
    Key("cloudtrail", "delivery_interval", float, 300.0,
        "Seconds between a logging trail's log-file deliveries to <data_dir>/s3/ (AWS: about 5 minutes)."),
)
