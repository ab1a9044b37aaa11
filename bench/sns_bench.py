"""SNS publish and fan-out, against moto server (baseline) measured in the same run.

Prints JSON:
- publish_p50_ms: Publish latency (p50, p90) with 1 and with 50 SQS subscribers, one
  client sending sequentially over one keep-alive connection; "paced" leaves 40 ms
  between publishes (each fan-out done before the next publish, so the number is the
  publish path itself), "back_to_back" does not (fan-out competes for the same 2 cores);
  ratio = 50 subscribers / 1 subscriber;
- fanout_deliveries_per_s: deliveries into 50 SQS queues per second, from the first
  publish of a burst until every queue holds every message, and the server's CPU
  (all its processes) per delivery over that burst;
- filtered_publish_p50_ms: Publish latency with 10 and with 10,000 subscriptions that
  each carry a filter policy (none matching the message); ratio = 10,000 / 10;
- matcher_us: the sns-filter matcher alone (no server), 10 vs 10,000 policies.

The topics a measure compares are named so that they share one partition (one
shard process serves both), and are published to in turn.

Run: python bench/sns_bench.py [--messages 300] [--filtered 10000] [--workers 1 --shards 2]
Needs: moto[server] (pip install -e '.[bench]'); --no-moto skips the baseline.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import http.client
import json
import statistics
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from _common import Broker, Moto, boto_client, emit
from metrics_bench import cpu_seconds

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


# A well-formed (dev-mode) SigV4 header: moto files unsigned requests under another
# account than boto3's, so its topics would not find their queues.
_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "X-Amz-Date": "20261126T000000Z",
            "Authorization": ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/sns/aws4_request, "
                              "SignedHeaders=content-type;host;x-amz-date, Signature=" + "0" * 64)}


class RawClient:
    """Query-protocol requests over one keep-alive connection: the client adds
    almost nothing to the latency measured (boto3 costs ~1.5 ms per call)."""

    def __init__(self, url: str):
        u = urllib.parse.urlparse(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)

    def call(self, params: dict) -> float:
        body = urllib.parse.urlencode({"Version": "2010-03-31", **params})
        t0 = time.perf_counter()
        self.conn.request("POST", "/", body, _HEADERS)
        r = self.conn.getresponse()
        data = r.read()
        dt = time.perf_counter() - t0
        if r.status != 200:
            raise RuntimeError(f"{params.get('Action')}: HTTP {r.status} {data[:300]!r}")
        return dt


def _queues(sqs, n: int, prefix: str) -> list[tuple[str, str]]:
    out = []
    for i in range(n):
        url = sqs.create_queue(QueueName=f"{prefix}-{i}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        out.append((url, arn))
    return out


def _topic_with_queues(sns, sqs, name: str, n: int) -> tuple[str, list[str]]:
    topic = sns.create_topic(Name=name)["TopicArn"]
    urls = []
    for url, arn in _queues(sqs, n, name):
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
        urls.append(url)
    return topic, urls


def _colocated(url: str, names: list[str]) -> list[str]:
    """The names with a suffix that puts every topic in one partition (so one
    shard process serves the topics a measure compares); moto: unchanged."""
    try:
        with urllib.request.urlopen(url + "/_broker/info", timeout=10) as r:
            partitions = json.load(r)["partitions"]
    except Exception:
        return names
    from broker.core.partition import partition_of
    from services.sns.arns import topic_key
    where = partition_of(topic_key("us-east-1", "000000000000", names[0]), partitions)
    out = [names[0]]
    for name in names[1:]:
        i = 0
        while partition_of(topic_key("us-east-1", "000000000000", f"{name}-{i}"), partitions) != where:
            i += 1
        out.append(f"{name}-{i}")
    return out


def _publish_params(topic: str, attrs: dict | None = None) -> dict:
    params = {"Action": "Publish", "TopicArn": topic, "Message": "bench message with a short body"}
    for i, (k, v) in enumerate((attrs or {}).items(), 1):
        params.update({f"MessageAttributes.entry.{i}.Name": k, f"MessageAttributes.entry.{i}.Value.DataType": "String",
                       f"MessageAttributes.entry.{i}.Value.StringValue": v})
    return params


def _latencies(client: RawClient, topics: list[str], n: int, pause: float,
               attrs: dict | None = None) -> list[list[float]]:
    """Publish to each topic in turn, n rounds: every topic sees the same machine."""
    params = [_publish_params(t, attrs) for t in topics]
    out: list[list[float]] = [[] for _ in topics]
    for rnd in range(n + 10):
        for i, p in enumerate(params):
            dt = client.call(p)
            if rnd >= 10:            # the first rounds warm up
                out[i].append(dt)
            if pause:
                time.sleep(pause)
    return out


def _pct(values: list[float], p: float) -> float:
    return round(sorted(values)[int(len(values) * p)] * 1000, 3)


def _depth(sqs, urls: list[str]) -> int:
    return sum(int(sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"]) for u in urls)


def publish_latency(url: str, messages: int) -> dict:
    sns, sqs = boto_client("sns", url), boto_client("sqs", url)
    names = _colocated(url, ["lat-one", "lat-fifty"])
    one, one_urls = _topic_with_queues(sns, sqs, names[0], 1)
    fifty, fifty_urls = _topic_with_queues(sns, sqs, names[1], 50)
    client = RawClient(url)
    out = {}
    for mode, pause in (("paced", 0.04), ("back_to_back", 0.0)):
        a, b = _latencies(client, [one, fifty], messages, pause)
        out[mode] = {"1_subscriber": {"p50": _pct(a, 0.5), "p90": _pct(a, 0.9)},
                     "50_subscribers": {"p50": _pct(b, 0.5), "p90": _pct(b, 0.9)},
                     "ratio_p50": round(statistics.median(b) / statistics.median(a), 3)}
        wait_drained(sqs, one_urls + fifty_urls)
    return out


def wait_drained(sqs, urls: list[str], timeout: float = 120) -> None:
    """Let the deliveries of the previous phase finish (the queue depths stop moving)."""
    last, stable, deadline = -1, 0, time.time() + timeout
    while time.time() < deadline and stable < 3:
        d = _depth(sqs, urls)
        stable = stable + 1 if d == last else 0
        last = d
        time.sleep(0.3)


def fanout_rate(url: str, messages: int, pgid: int) -> dict:
    sns, sqs = boto_client("sns", url), boto_client("sqs", url)
    topic, urls = _topic_with_queues(sns, sqs, "fanout", 50)
    client = RawClient(url)
    params = {"Action": "Publish", "TopicArn": topic, "Message": "fan-out bench"}
    cpu0 = cpu_seconds(pgid)
    t0 = time.perf_counter()
    for _ in range(messages):
        client.call(params)
    published = time.perf_counter() - t0
    want = messages * len(urls)
    deadline = time.time() + 600
    while (got := _depth(sqs, urls)) < want and time.time() < deadline:
        time.sleep(0.1)
    elapsed = time.perf_counter() - t0
    if got < want:
        raise RuntimeError(f"fan-out: {got} of {want} deliveries after {elapsed:.0f} s")
    cpu = cpu_seconds(pgid) - cpu0
    return {"messages": messages, "subscribers": len(urls), "deliveries": want,
            "publish_seconds": round(published, 3), "all_delivered_seconds": round(elapsed, 3),
            "deliveries_per_s": round(want / elapsed, 1),
            # every server process, publishes and the depth polls included
            "server_cpu_us_per_delivery": round(cpu / want * 1e6, 1)}


def _subscribe_filtered(sns, topic: str, start: int, count: int, threads: int) -> None:
    def one(i):
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=f"arn:aws:sqs:us-east-1:000000000000:f-{i}",
                      Attributes={"FilterPolicy": json.dumps({"customer": [f"c-{i}"], "tier": ["gold", "silver"]})})
    with cf.ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(start, start + count)))


def filtered_publish(url: str, filtered: int, messages: int, threads: int) -> dict:
    sns = boto_client("sns", url)
    client = RawClient(url)
    out = {}
    topics = []
    for n, name in zip((10, filtered), _colocated(url, ["filtered-10", f"filtered-{filtered}"])):
        topic = sns.create_topic(Name=name)["TopicArn"]
        t0 = time.time()
        _subscribe_filtered(sns, topic, 0, n, threads)
        out[f"{n}_filtered"] = {"subscribe_seconds": round(time.time() - t0, 1)}
        topics.append(topic)
    for n, lat in zip((10, filtered), _latencies(client, topics, messages, 0.0,
                                                  {"customer": "c-nobody", "tier": "gold"})):
        out[f"{n}_filtered"].update({"p50": _pct(lat, 0.5), "p90": _pct(lat, 0.9)})
    out["ratio_p50"] = round(out[f"{filtered}_filtered"]["p50"] / out["10_filtered"]["p50"], 3)
    return out


def matcher_cost(filtered: int) -> dict:
    from services.sns.matcher import MessageView, SnsFilterMatcher
    out = {}
    for n in (10, filtered):
        m = SnsFilterMatcher()
        for i in range(n):
            m.add(("MessageAttributes", json.dumps({"customer": [f"c-{i}"], "tier": ["gold", "silver"]})), i)
        attrs = {"customer": ["String", "c-7"], "tier": ["String", "gold"]}
        reps = 20000
        t0 = time.perf_counter()
        for _ in range(reps):
            hit = m.match("", None, MessageView(attrs, None))
        out[f"{n}_policies"] = round((time.perf_counter() - t0) / reps * 1e6, 2)
        assert list(hit) == [7]
    out["ratio"] = round(out[f"{filtered}_policies"] / out["10_policies"], 3)
    return out


def run_all(url: str, pgid: int, args, threads: int = 8) -> dict:
    return {"publish_p50_ms": publish_latency(url, args.messages),
            "fanout_deliveries_per_s": fanout_rate(url, args.fanout_messages, pgid),
            "filtered_publish_p50_ms": filtered_publish(url, args.filtered, args.messages, threads)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--fanout-messages", type=int, default=200)
    ap.add_argument("--filtered", type=int, default=10_000)
    ap.add_argument("--workers", default="1")
    ap.add_argument("--shards", default="2")
    ap.add_argument("--durability", default="process")
    ap.add_argument("--no-moto", action="store_true")
    args = ap.parse_args()
    result = {"config": {"workers": args.workers, "shards": args.shards, "durability": args.durability,
                         "messages": args.messages, "filtered": args.filtered},
              "matcher_us": matcher_cost(args.filtered)}
    broker = Broker("--workers", args.workers, "--shards", args.shards, "--durability", args.durability)
    try:
        result["broker"] = run_all(broker.url, broker.proc.pid, args)
    finally:
        broker.close()
    print(json.dumps(result["broker"]), file=sys.stderr, flush=True)     # kept if the baseline fails
    if not args.no_moto:
        moto = Moto()
        try:
            result["moto"] = run_all(moto.url, moto.proc.pid, args, threads=1)    # concurrent Subscribe calls fail there
        finally:
            moto.close()
        b, m = result["broker"], result["moto"]
        result["ratios_vs_moto"] = {
            "publish_p50_paced_50_subscribers": round(m["publish_p50_ms"]["paced"]["50_subscribers"]["p50"]
                                                      / b["publish_p50_ms"]["paced"]["50_subscribers"]["p50"], 2),
            "fanout_deliveries_per_s": round(b["fanout_deliveries_per_s"]["deliveries_per_s"]
                                             / m["fanout_deliveries_per_s"]["deliveries_per_s"], 2),
            "fanout_cpu_per_delivery": round(m["fanout_deliveries_per_s"]["server_cpu_us_per_delivery"]
                                             / b["fanout_deliveries_per_s"]["server_cpu_us_per_delivery"], 2),
            "filtered_publish_p50": round(m["filtered_publish_p50_ms"][f"{args.filtered}_filtered"]["p50"]
                                          / b["filtered_publish_p50_ms"][f"{args.filtered}_filtered"]["p50"], 2)}
    emit(result)


if __name__ == "__main__":
    main()
