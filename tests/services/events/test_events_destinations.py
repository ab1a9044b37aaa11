"""Connections and API destinations: stored and described as AWS does, and real HTTP
calls with Basic, API-key and OAuth client-credentials authorization, paced by
InvocationRateLimitPerSecond."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
from urllib.parse import parse_qs, urlparse

import pytest
from botocore.exceptions import ClientError

from tests.helpers.brokerproc import wait_for
from tests.services.events._helpers import error, rule_to_queue, uid

ACCOUNT = "000000000000"


class Recorder:
    """A local HTTP endpoint recording requests; /token answers OAuth client credentials."""

    def __init__(self):
        self.requests: list[dict] = []
        self.tokens = 0
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _handle(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                u = urlparse(self.path)
                if u.path == "/token":
                    rec.tokens += 1
                    rec.token_request = {"headers": dict(self.headers), "body": body.decode(), "method": self.command}
                    out = json.dumps({"access_token": f"tok-{rec.tokens}", "expires_in": 3600}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                    return
                rec.requests.append({"method": self.command, "path": u.path, "query": parse_qs(u.query),
                                     "headers": dict(self.headers), "body": body.decode(), "t": time.monotonic()})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_PUT = do_GET = _handle

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def endpoint():
    r = Recorder()
    yield r
    r.close()


def _event(source: str, detail: dict) -> dict:
    return {"Source": source, "DetailType": "Hook", "Detail": json.dumps(detail)}


def test_connection_lifecycle_and_describe_hides_secrets(events):
    name = uid("conn")
    out = events.create_connection(Name=name, AuthorizationType="BASIC", Description="d", AuthParameters={
        "BasicAuthParameters": {"Username": "user", "Password": "pass"},
        "InvocationHttpParameters": {"HeaderParameters": [{"Key": "x-a", "Value": "1", "IsValueSecret": False}]}})
    arn = out["ConnectionArn"]
    assert arn.startswith(f"arn:aws:events:us-east-1:{ACCOUNT}:connection/{name}/")
    assert out["ConnectionState"] == "AUTHORIZED"
    d = events.describe_connection(Name=name)
    assert d["AuthParameters"]["BasicAuthParameters"] == {"Username": "user"}
    assert d["AuthorizationType"] == "BASIC" and d["ConnectionState"] == "AUTHORIZED" and d["Description"] == "d"
    assert d["SecretArn"].startswith(f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:events!connection/{name}/")
    assert "pass" not in json.dumps(d, default=str)
    listed = events.list_connections(NamePrefix=name)["Connections"]
    assert [c["Name"] for c in listed] == [name] and listed[0]["AuthorizationType"] == "BASIC"
    upd = events.update_connection(Name=name, AuthParameters={"BasicAuthParameters": {"Username": "u2"}})
    assert upd["ConnectionArn"] == arn
    assert events.describe_connection(Name=name)["AuthParameters"]["BasicAuthParameters"] == {"Username": "u2"}
    with pytest.raises(ClientError) as e:
        events.create_connection(Name=name, AuthorizationType="BASIC", AuthParameters={
            "BasicAuthParameters": {"Username": "u", "Password": "p"}})
    assert error(e)[0] == "ResourceAlreadyExistsException"
    gone = events.delete_connection(Name=name)
    assert gone["ConnectionState"] == "DELETING" and gone["ConnectionArn"] == arn
    with pytest.raises(ClientError) as e:
        events.describe_connection(Name=name)
    assert error(e) == ("ResourceNotFoundException",
                        f"Failed to describe the connection(s). Connection '{name}' does not exist.")
    with pytest.raises(ClientError) as e:
        events.create_connection(Name="Invalid Name!", AuthorizationType="BASIC", AuthParameters={
            "BasicAuthParameters": {"Username": "u", "Password": "p"}})
    assert error(e) == ("ValidationException", "1 validation error detected: Value 'Invalid Name!' at 'name' failed "
                                               "to satisfy constraint: Member must satisfy regular expression "
                                               "pattern: [\\.\\-_A-Za-z0-9]+")


def test_api_destination_lifecycle(events):
    conn = events.create_connection(Name=uid("c"), AuthorizationType="API_KEY", AuthParameters={
        "ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "secret"}})
    name = uid("dest")
    out = events.create_api_destination(Name=name, ConnectionArn=conn["ConnectionArn"],
                                        InvocationEndpoint="https://example.com/api", HttpMethod="POST")
    assert out["ApiDestinationState"] == "ACTIVE"
    d = events.describe_api_destination(Name=name)
    assert d["InvocationRateLimitPerSecond"] == 300 and d["HttpMethod"] == "POST"
    assert d["ApiDestinationArn"] == out["ApiDestinationArn"] and d["ConnectionArn"] == conn["ConnectionArn"]
    events.update_api_destination(Name=name, HttpMethod="PUT", InvocationRateLimitPerSecond=5)
    d = events.describe_api_destination(Name=name)
    assert (d["HttpMethod"], d["InvocationRateLimitPerSecond"]) == ("PUT", 5)
    assert [x["Name"] for x in events.list_api_destinations(NamePrefix=name)["ApiDestinations"]] == [name]
    events.delete_api_destination(Name=name)
    with pytest.raises(ClientError) as e:
        events.describe_api_destination(Name=name)
    assert error(e) == ("ResourceNotFoundException", f"Failed to describe the api-destination(s). An "
                                                     f"api-destination '{name}' does not exist.")


def _destination(events, endpoint, kind: str, auth: dict, rate: int = 300, method: str = "POST", path="/hook/*"):
    conn = events.create_connection(Name=uid("c"), AuthorizationType=kind, AuthParameters=auth)
    return conn, events.create_api_destination(
        Name=uid("d"), ConnectionArn=conn["ConnectionArn"], InvocationEndpoint=endpoint.url + path,
        HttpMethod=method, InvocationRateLimitPerSecond=rate)


def test_basic_auth_headers_query_and_path(events, endpoint):
    _c, dest = _destination(events, endpoint, "BASIC", {
        "BasicAuthParameters": {"Username": "alice", "Password": "s3cret"},
        "InvocationHttpParameters": {"HeaderParameters": [{"Key": "x-conn", "Value": "c1"}],
                                     "QueryStringParameters": [{"Key": "q1", "Value": "v1"}]}})
    src = uid("app")
    rule_to_queue(events, dest["ApiDestinationArn"], {"source": [src]},
                  HttpParameters={"PathParameterValues": ["orders"], "HeaderParameters": {"x-target": "t1"},
                                  "QueryStringParameters": {"q2": "v2"}})
    events.put_events(Entries=[_event(src, {"n": 1})])
    [req] = wait_for(lambda: endpoint.requests, 15, what="API destination call")
    assert req["method"] == "POST" and req["path"] == "/hook/orders"
    assert req["query"] == {"q1": ["v1"], "q2": ["v2"]}
    assert req["headers"]["Authorization"] == "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert req["headers"]["x-conn"] == "c1" and req["headers"]["x-target"] == "t1"
    assert req["headers"]["Content-Type"].startswith("application/json")
    assert json.loads(req["body"])["detail"] == {"n": 1}


def test_api_key_auth(events, endpoint):
    _c, dest = _destination(events, endpoint, "API_KEY", {
        "ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "k-123"}}, path="/k")
    src = uid("app")
    rule_to_queue(events, dest["ApiDestinationArn"], {"source": [src]}, Input='{"hello": "world"}')
    events.put_events(Entries=[_event(src, {})])
    [req] = wait_for(lambda: endpoint.requests, 15, what="API destination call")
    assert req["headers"]["x-api-key"] == "k-123" and req["body"] == '{"hello": "world"}'


def test_oauth_client_credentials(events, endpoint):
    conn, dest = _destination(events, endpoint, "OAUTH_CLIENT_CREDENTIALS", {"OAuthParameters": {
        "AuthorizationEndpoint": endpoint.url + "/token", "HttpMethod": "POST",
        "ClientParameters": {"ClientID": "cid", "ClientSecret": "csecret"},
        "OAuthHttpParameters": {"BodyParameters": [{"Key": "grant_type", "Value": "client_credentials"}]}}},
        path="/o")
    assert events.describe_connection(Name=conn["ConnectionArn"].split("/")[1])["ConnectionState"] in (
        "AUTHORIZING", "AUTHORIZED")
    wait_for(lambda: events.describe_connection(
        Name=conn["ConnectionArn"].split("/")[1])["ConnectionState"] == "AUTHORIZED", 15, what="authorized")
    described = events.describe_connection(Name=conn["ConnectionArn"].split("/")[1])["AuthParameters"]
    assert described["OAuthParameters"]["ClientParameters"] == {"ClientID": "cid"}
    assert endpoint.token_request["headers"]["Authorization"] == "Basic " + base64.b64encode(b"cid:csecret").decode()
    assert parse_qs(endpoint.token_request["body"]) == {"grant_type": ["client_credentials"]}
    src = uid("app")
    rule_to_queue(events, dest["ApiDestinationArn"], {"source": [src]})
    events.put_events(Entries=[_event(src, {"x": 1})])
    [req] = wait_for(lambda: endpoint.requests, 15, what="API destination call")
    assert req["headers"]["Authorization"].startswith("Bearer tok-")


def test_invocation_rate_limit_paces_calls(events, endpoint):
    _c, dest = _destination(events, endpoint, "API_KEY", {
        "ApiKeyAuthParameters": {"ApiKeyName": "k", "ApiKeyValue": "v"}}, rate=2, path="/r")
    src = uid("app")
    rule_to_queue(events, dest["ApiDestinationArn"], {"source": [src]})
    events.put_events(Entries=[_event(src, {"i": i}) for i in range(5)])
    reqs = wait_for(lambda: len(endpoint.requests) >= 5 and endpoint.requests, 20, what="5 paced calls")
    times = sorted(r["t"] for r in reqs)
    # 2 per second with a burst of 2: the fifth call cannot come sooner than 1.5 s after the first
    assert times[4] - times[0] >= 1.4
