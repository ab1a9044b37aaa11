"""Runtimes behind the Runtime API: Node.js handlers (async and callback, CommonJS and
ES modules), a provided.al2023 shell bootstrap, timeouts, crashes and memory limits."""

from __future__ import annotations

import base64
import json

NODE_ASYNC = """
exports.handler = async (event, context) => {
  console.log("node got", JSON.stringify(event));
  return { event, name: context.functionName, arn: context.invokedFunctionArn, id: context.awsRequestId,
           group: context.logGroupName, remaining: context.getRemainingTimeInMillis(), env: process.env.FOO };
};
"""
NODE_CALLBACK_ESM = """
export function handler(event, context, callback) {
  if (event.fail) { callback(new TypeError("bad input")); return; }
  setTimeout(() => callback(null, { doubled: event.n * 2 }), 5);
}
"""
BOOTSTRAP = """#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS="$(mktemp)"
  EVENT=$(curl -sS -LD "$HEADERS" "$API/invocation/next")
  ID=$(grep -i Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  echo "shell handler saw $EVENT"
  curl -sS -X POST "$API/invocation/$ID/response" -d "{\\"echo\\": $EVENT, \\"handler\\": \\"$_HANDLER\\"}" > /dev/null
done
"""


def _payload(r):
    return json.loads(r["Payload"].read())


def test_node_async_handler(lam, make_fn, unique_name):
    make_fn(unique_name, {"index.js": NODE_ASYNC}, handler="index.handler", runtime="nodejs20.x",
            Environment={"Variables": {"FOO": "node-env"}})
    r = lam.invoke(FunctionName=unique_name, Payload=b'{"k": [1, 2]}', LogType="Tail")
    doc = _payload(r)
    assert "FunctionError" not in r, doc
    assert doc["event"] == {"k": [1, 2]} and doc["name"] == unique_name and doc["env"] == "node-env"
    assert doc["arn"].endswith(f":function:{unique_name}") and doc["group"] == f"/aws/lambda/{unique_name}"
    assert 0 < doc["remaining"] <= 3000
    tail = base64.b64decode(r["LogResult"]).decode()
    assert f"\t{doc['id']}\tINFO\tnode got " in tail


def test_node_callback_esm_handler_and_error(lam, make_fn, unique_name):
    make_fn(unique_name, {"app.mjs": NODE_CALLBACK_ESM}, handler="app.handler", runtime="nodejs20.x")
    assert _payload(lam.invoke(FunctionName=unique_name, Payload=b'{"n": 21}')) == {"doubled": 42}
    r = lam.invoke(FunctionName=unique_name, Payload=b'{"fail": true}')
    assert r["FunctionError"] == "Unhandled"
    err = _payload(r)
    assert err["errorType"] == "TypeError" and err["errorMessage"] == "bad input" and err["trace"]


def test_provided_shell_bootstrap(lam, make_fn, unique_name):
    make_fn(unique_name, {"bootstrap": BOOTSTRAP}, handler="my.handler", runtime="provided.al2023",
            modes={"bootstrap": 0o755})
    r = lam.invoke(FunctionName=unique_name, Payload=b'{"a": "b"}', LogType="Tail")
    assert _payload(r) == {"echo": {"a": "b"}, "handler": "my.handler"}
    assert 'shell handler saw {"a": "b"}' in base64.b64decode(r["LogResult"]).decode()
    assert _payload(lam.invoke(FunctionName=unique_name, Payload=b"[1]"))["echo"] == [1]


def test_timeout_kills_the_environment(lam, make_fn, unique_name):
    make_fn(unique_name, "import os, time\ndef handler(e, c):\n    if e.get('sleep'):\n        time.sleep(30)\n"
                         "    return os.getpid()\n", Timeout=1)
    pid = _payload(lam.invoke(FunctionName=unique_name))
    r = lam.invoke(FunctionName=unique_name, Payload=b'{"sleep": true}', LogType="Tail")
    assert r["FunctionError"] == "Unhandled"
    err = _payload(r)
    assert err["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in err["errorMessage"]
    assert "Task timed out after 1.00 seconds" in base64.b64decode(r["LogResult"]).decode()
    assert _payload(lam.invoke(FunctionName=unique_name)) != pid     # a fresh environment


def test_crash_is_reported_and_replaced(lam, make_fn, unique_name):
    make_fn(unique_name, "import os\ndef handler(e, c):\n    if e.get('die'):\n        os._exit(3)\n    return 'alive'\n")
    r = lam.invoke(FunctionName=unique_name, Payload=b'{"die": true}')
    assert r["FunctionError"] == "Unhandled"
    err = _payload(r)
    assert err["errorType"] == "Runtime.ExitError" and "exit status 3" in err["errorMessage"]
    assert _payload(lam.invoke(FunctionName=unique_name)) == "alive"


def test_memory_limit_enforced(lam, make_fn, unique_name):
    make_fn(unique_name, "def handler(e, c):\n    blob = bytearray(e['mb'] * 1024 * 1024)\n    return len(blob)\n",
            MemorySize=128)
    assert _payload(lam.invoke(FunctionName=unique_name, Payload=b'{"mb": 16}')) == 16 * 1024 * 1024
    r = lam.invoke(FunctionName=unique_name, Payload=b'{"mb": 512}')
    assert r["FunctionError"] == "Unhandled"
    assert _payload(r)["errorType"] in ("MemoryError", "Runtime.ExitError")
