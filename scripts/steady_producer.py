"""A steady producer for scripts/bench_steady.sh: drops RATE events a second into a spool
directory for SECONDS, as FILES complete files every EVERY seconds (written under a hidden name,
then renamed: the spool's rule). The events come from a pool `floe generate` made once; every
drop rewrites the first 8 hex digits of each event id with the drop's number, so each drop is
new events (with the pool's own re-sends and malformed records in the same proportions), and
sets their collector_tstamp to the drop's time, as a collector would (the pool's times are spread
over 3 days; replayed as they are, every drop would be days late).

Files whose shard floe's checkpoint file marks ended (every record durable in bronze) are
deleted, so the spool holds only the backlog, not the whole run.

Prints one JSON line per drop: {"drop": n, "at": unix_seconds, "events": n, "late_s": s}.

usage: steady_producer.py POOL_DIR SPOOL_DIR CHECKPOINTS_JSON RATE SECONDS [EVERY] [FILES]
"""

import json
import os
import re
import sys
import time

ID = re.compile(rb'("event_id"\s*:\s*")[0-9a-fA-F]{8}')
# well-formed collector timestamps only: the pool's malformed ones stay malformed
COLLECTED = re.compile(rb'("collector_tstamp"\s*:\s*")\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z')


def pool_lines(pool_dir):
    lines = []
    for name in sorted(os.listdir(pool_dir)):
        if not name.startswith("."):
            with open(os.path.join(pool_dir, name), "rb") as f:
                lines.extend(f.read().splitlines(keepends=True))
    if not lines:
        sys.exit(f"steady_producer.py: no events in {pool_dir}")
    return lines


def shard_of(name):
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name)[:128]


def delete_ended(spool, checkpoints):
    try:
        with open(checkpoints, encoding="utf-8") as f:
            state = json.load(f)
    except (OSError, ValueError):
        return
    for name in os.listdir(spool):
        if not name.startswith(".") and state.get(shard_of(name), {}).get("ended"):
            try:
                os.remove(os.path.join(spool, name))
            except FileNotFoundError:
                pass


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    pool_dir, spool, checkpoints = sys.argv[1], sys.argv[2], sys.argv[3]
    rate, seconds = int(sys.argv[4]), float(sys.argv[5])
    every = float(sys.argv[6]) if len(sys.argv) > 6 else 5.0
    files = int(sys.argv[7]) if len(sys.argv) > 7 else 2
    lines = pool_lines(pool_dir)
    per_drop = int(rate * every)
    per_file = max(1, per_drop // files)
    start = time.time()
    cursor = 0
    drop = 0
    while drop * every < seconds:
        due = start + drop * every
        now = time.time()
        if now < due:
            time.sleep(due - now)
        prefix = b"%08x" % (drop + 1)
        for i in range(files):
            chunk = []
            for _ in range(per_file):
                chunk.append(lines[cursor])
                cursor = (cursor + 1) % len(lines)
            collected = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()).encode() + b".000Z"
            body = COLLECTED.sub(rb"\g<1>" + collected, ID.sub(rb"\g<1>" + prefix, b"".join(chunk)))
            name = f"d{drop:06d}-{i}.jsonl"
            tmp = os.path.join(spool, "." + name + ".tmp")
            with open(tmp, "wb") as f:
                f.write(body)
            os.rename(tmp, os.path.join(spool, name))
        print(json.dumps({"drop": drop, "at": time.time(), "events": per_file * files,
                          "late_s": round(time.time() - due, 3)}), flush=True)
        delete_ended(spool, checkpoints)
        drop += 1


if __name__ == "__main__":
    main()
