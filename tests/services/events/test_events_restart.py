"""Nothing acknowledged is lost: events accepted by PutEvents are delivered after kill -9
of the whole server, and buses, rules, targets, archives and archived events survive."""

from __future__ import annotations

import http.server
import json
import socket
import threading

from tests.helpers.brokerproc import BrokerProcess, wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_put_events_survive_kill_9(tmp_path):
    port = _free_port()                       # the API destination is down when the events are put
    with BrokerProcess(tmp_path / "data", "--workers", "1", "--shards", "2") as b:
        events = b.client("events")
        events.create_event_bus(Name="durable")
        conn = events.create_connection(Name="c", AuthorizationType="API_KEY", AuthParameters={
            "ApiKeyAuthParameters": {"ApiKeyName": "x-key", "ApiKeyValue": "v"}})
        dest = events.create_api_destination(Name="d", ConnectionArn=conn["ConnectionArn"],
                                             InvocationEndpoint=f"http://127.0.0.1:{port}/in", HttpMethod="POST")
        events.put_rule(Name="to-http", EventBusName="durable", EventPattern=json.dumps({"source": ["app"]}))
        events.put_targets(Rule="to-http", EventBusName="durable", Targets=[
            {"Id": "h", "Arn": dest["ApiDestinationArn"], "RetryPolicy": {"MaximumRetryAttempts": 185}}])
        events.create_archive(ArchiveName="all",
                              EventSourceArn="arn:aws:events:us-east-1:000000000000:event-bus/durable")
        out = events.put_events(Entries=[{"Source": "app", "DetailType": "t", "Detail": json.dumps({"i": i}),
                                          "EventBusName": "durable"} for i in range(3)])
        assert out["FailedEntryCount"] == 0
        ids = {e["EventId"] for e in out["Entries"]}
        wait_for(lambda: events.describe_archive(ArchiveName="all")["EventCount"] == 3, 15, what="archived")
        b.kill_all()

        got: list[dict] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            b.restart()
            wait_for(lambda: {e["id"] for e in got} >= ids, 60, what="the three events after restart")
            events = b.client("events")
            assert [r["Name"] for r in events.list_rules(EventBusName="durable")["Rules"]] == ["to-http"]
            assert events.list_targets_by_rule(Rule="to-http", EventBusName="durable")["Targets"][0]["Id"] == "h"
            assert events.describe_archive(ArchiveName="all")["EventCount"] == 3
            assert events.describe_connection(Name="c")["ConnectionState"] == "AUTHORIZED"
        finally:
            httpd.shutdown()
