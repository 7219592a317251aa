"""Proves each patch of moto_strict.py against the running server, over the real AWS APIs."""
import concurrent.futures
import pathlib
import socket
import subprocess
import sys
import time
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

HERE = pathlib.Path(__file__).resolve().parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "moto_strict.py"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("moto_strict did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def client(service, url):
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def make_table(glue):
    db, name = f"db_{uuid.uuid4().hex[:8]}", "t"
    glue.create_database(DatabaseInput={"Name": db})
    glue.create_table(DatabaseName=db, TableInput={"Name": name, "Parameters": {"n": "0"}})
    return db, name


def test_update_with_the_current_version_id_succeeds_and_a_stale_one_is_refused(endpoint):
    glue = client("glue", endpoint)
    db, name = make_table(glue)
    v0 = glue.get_table(DatabaseName=db, Name=name)["Table"]["VersionId"]
    glue.update_table(DatabaseName=db, TableInput={"Name": name, "Parameters": {"n": "1"}}, VersionId=v0)
    with pytest.raises(ClientError) as stale:
        glue.update_table(DatabaseName=db, TableInput={"Name": name, "Parameters": {"n": "2"}}, VersionId=v0)
    assert stale.value.response["Error"]["Code"] == "ConcurrentModificationException"
    assert glue.get_table(DatabaseName=db, Name=name)["Table"]["Parameters"]["n"] == "1"


def test_concurrent_compare_and_swap_loses_no_update(endpoint):
    glue = client("glue", endpoint)
    db, name = make_table(glue)

    def bump(_):
        ok = 0
        for _ in range(15):
            t = glue.get_table(DatabaseName=db, Name=name)["Table"]
            n = int(t["Parameters"]["n"])
            try:
                glue.update_table(
                    DatabaseName=db,
                    TableInput={"Name": name, "Parameters": {"n": str(n + 1)}},
                    VersionId=t["VersionId"],
                )
                ok += 1
            except ClientError as e:
                assert e.response["Error"]["Code"] == "ConcurrentModificationException"
        return ok

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        acknowledged = sum(pool.map(bump, range(6)))
    final = int(glue.get_table(DatabaseName=db, Name=name)["Table"]["Parameters"]["n"])
    assert acknowledged > 0
    assert final == acknowledged, "an acknowledged update was lost"


def test_racing_create_only_puts_have_exactly_one_winner(endpoint):
    s3 = client("s3", endpoint)
    bucket = f"b-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)

    def put(i):
        try:
            s3.put_object(Bucket=bucket, Key="pointer", Body=str(i).encode(), IfNoneMatch="*")
            return i
        except ClientError as e:
            assert e.response["Error"]["Code"] in ("PreconditionFailed", "ConditionalRequestConflict")
            return None

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        winners = [w for w in pool.map(put, range(32)) if w is not None]
    assert len(winners) == 1, winners
    body = s3.get_object(Bucket=bucket, Key="pointer")["Body"].read().decode()
    assert body == str(winners[0])
