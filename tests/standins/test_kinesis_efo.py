"""Proves each correction of kinesis_efo.py against the running kinesis-local, through boto3."""
import os
import pathlib
import subprocess
import sys
import time
import uuid

import boto3
import pytest
from botocore.parsers import ResponseParserError

HERE = pathlib.Path(__file__).resolve().parent
SUBSCRIPTION_SECONDS = 3


def client(endpoint):
    return boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture(scope="module")
def upstream():
    endpoint = os.environ.get("FLOE_TEST_KINESIS_ENDPOINT")
    if not endpoint:
        pytest.fail("FLOE_TEST_KINESIS_ENDPOINT is not set: run scripts/test.sh, which starts kinesis-local")
    return endpoint


@pytest.fixture(scope="module")
def proxy(upstream):
    proc = subprocess.Popen([sys.executable, str(HERE / "kinesis_efo.py"), upstream, str(SUBSCRIPTION_SECONDS)],
                            stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    yield f"http://127.0.0.1:{port}"
    proc.kill()
    proc.wait()


def stream_with_consumer(k, shards, records):
    name = f"efo-{uuid.uuid4().hex[:8]}"
    k.create_stream(StreamName=name, ShardCount=shards)
    for _ in range(300):
        summary = k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if summary["StreamStatus"] == "ACTIVE":
            break
        time.sleep(0.1)
    for i in range(records):
        k.put_record(StreamName=name, Data=b"r%d" % i, PartitionKey=str(i))
    consumer = k.register_stream_consumer(StreamARN=summary["StreamARN"], ConsumerName="probe")["Consumer"]
    for _ in range(300):
        if k.describe_stream_consumer(ConsumerARN=consumer["ConsumerARN"])["ConsumerDescription"]["ConsumerStatus"] == "ACTIVE":
            break
        time.sleep(0.1)
    return name, consumer["ConsumerARN"]


def subscribe(k, consumer, shard):
    return k.subscribe_to_shard(ConsumerARN=consumer, ShardId=shard, StartingPosition={"Type": "TRIM_HORIZON"})


def test_kinesis_local_alone_sends_no_initial_response(upstream):
    """The control for correction 3: boto3 cannot subscribe to kinesis-local directly."""
    k = client(upstream)
    name, consumer = stream_with_consumer(k, 1, 1)
    shard = k.list_shards(StreamName=name)["Shards"][0]["ShardId"]
    with pytest.raises(ResponseParserError, match="initial-response"):
        subscribe(k, consumer, shard)


def test_subscriptions_end_after_their_time_and_deliver_records(proxy):
    k = client(proxy)
    name, consumer = stream_with_consumer(k, 1, 5)
    shard = k.list_shards(StreamName=name)["Shards"][0]["ShardId"]
    started = time.monotonic()
    events = [e["SubscribeToShardEvent"] for e in subscribe(k, consumer, shard)["EventStream"]]
    took = time.monotonic() - started
    assert SUBSCRIPTION_SECONDS <= took < SUBSCRIPTION_SECONDS + 5, took
    assert sum(len(e["Records"]) for e in events) == 5
    assert all(e["ContinuationSequenceNumber"] for e in events), "an open shard never reports SHARD_END"


def test_a_closed_shard_ends_with_its_children(proxy):
    k = client(proxy)
    name, consumer = stream_with_consumer(k, 1, 3)
    parent = k.list_shards(StreamName=name)["Shards"][0]["ShardId"]
    k.split_shard(StreamName=name, ShardToSplit=parent, NewStartingHashKey=str(2 ** 127))
    for _ in range(300):
        if k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
            break
        time.sleep(0.1)
    events = [e["SubscribeToShardEvent"] for e in subscribe(k, consumer, parent)["EventStream"]]
    assert sum(len(e["Records"]) for e in events) == 3
    last = events[-1]
    assert last.get("ContinuationSequenceNumber") is None, last
    children = sorted(c["ShardId"] for c in last["ChildShards"])
    listed = sorted(s["ShardId"] for s in k.list_shards(StreamName=name)["Shards"] if s.get("ParentShardId") == parent)
    assert children == listed and len(children) == 2
    assert all(c["ParentShards"] == [parent] for c in last["ChildShards"])
