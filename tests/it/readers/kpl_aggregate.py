"""Make KPL aggregates with AWS's reference aggregator (aws-kinesis-agg) and print, as JSON, the
aggregates (hex) and the user records that went into each.

usage: kpl_aggregate.py <user records> <seed>
"""
import json
import random
import sys

from aws_kinesis_agg.aggregator import RecordAggregator

n, seed = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)
agg = RecordAggregator()
out, current = [], []


def flush():
    global current
    if agg.get_num_user_records():
        _, _, data = agg.clear_and_get().get_contents()
        out.append({"aggregate": data.hex(), "records": current})
    current = []


for i in range(n):
    pk = rng.choice(["user-1", "user-2", "ключ-3", "k" * rng.randint(1, 200)])
    ehk = str(rng.getrandbits(127)) if rng.random() < 0.2 else None
    data = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 3000)))
    if rng.random() < 0.05:
        flush()  # vary aggregate sizes
    result = agg.add_user_record(pk, data, explicit_hash_key=ehk)
    if result is not None:  # the aggregator filled up and handed back the previous aggregate
        _, _, agg_data = result.get_contents()
        out.append({"aggregate": agg_data.hex(), "records": current})
        current = []
    current.append({"pk": pk, "ehk": ehk, "data": data.hex()})
flush()
print(json.dumps(out))
