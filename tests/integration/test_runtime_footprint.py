"""What an idle server holds: the zygote preloads what every worker needs as it
starts, and nothing a worker needs only to serve a given front-end or service."""

from __future__ import annotations

import json
import subprocess
import sys

from broker.runtime.gateway import _on_first_connection

# Modules only a client of that front-end or service needs (imported on its first use).
LAZY = ["protocols.amqp.connection", "protocols.mqtt.connection", "protocols.smtp.server", "aiosmtpd.smtp",
        "amqtt.mqtt.packet", "services.sns.api", "services.stepfunctions.api", "services.ses.api",
        "services.kms.api", "services.kms.cryptoops", "services.sts.api", "botocore.session", "botocore.client",
        # AMQP's codec (the first AMQP dead letter), CBOR (a CBOR service's first request)
        "pamqp", "services.mq.amqpmsg", "cbor2",
        # botocore's model classes and loader and what they import (the codec reads service-2.json
        # itself); cryptography's X.509 code (only the supervisor's forked TLS-check child runs it)
        "botocore.model", "botocore.loaders", "botocore.utils", "botocore.compat", "botocore.exceptions",
        "botocore.auth", "urllib3", "dateutil", "cryptography.x509",
        # the HTTP client stack (xml.sax.saxutils imports urllib.request): no server process is a client
        "urllib.request", "http.client",
        # CloudWatch's query machinery (metric math, SEARCH): at the first query or metric-math alarm
        "services.cloudwatch.queries", "services.cloudwatch.mathexpr", "services.cloudwatch.search",
        # XML parsing (rest-xml request bodies)
        "xml.etree.ElementTree", "pyexpat"]

PROBE = """
import json, sys
from broker import cli
from broker.runtime.config import load
config = load(None, overrides={}, schema=cli.schema())
cli._listeners()
cli._preload(config)
print(json.dumps(sorted(sys.modules)))
"""


def test_preload_holds_the_common_machinery_and_no_front_end_or_other_service():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert not loaded & set(LAZY), sorted(loaded & set(LAZY))
    # what every worker needs is there (so workers import nothing as they start)
    for name in ("services.sqs.api", "services.sqs.shard", "protocols.http.server", "protocols.http.codec._shapemodel",
                 "broker.runtime.gateway", "broker.runtime.shard"):
        assert name in loaded, name


def test_a_listener_builds_its_protocol_factory_once_on_its_first_connection():
    built = []

    def build():
        built.append(1)
        return lambda: f"protocol {len(built)}"

    factory = _on_first_connection(build)
    assert built == []
    assert factory() == "protocol 1"
    assert factory() == "protocol 1"
    assert built == [1]
