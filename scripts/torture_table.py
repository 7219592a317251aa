"""Renders the torture-summary lines of a scripts/torture.sh log into the summary table of
docs/reliability.md (between the torture markers), with the command, the date and the machine.
The tests print their figures as `torture-summary: {json}`, possibly after a `test … ...` prefix.

usage: torture_table.py LOG ITERATIONS STARTED [SOAK_MINUTES]
(scripts/torture.sh --soak appends the soak's line to LOG: scripts/bench_steady.sh.)
"""
import json, os, platform, re, sys
log, iterations, started = sys.argv[1], sys.argv[2], sys.argv[3]
soak = f" --soak {sys.argv[4]}" if len(sys.argv) > 4 and sys.argv[4] else ""
text = open(log, encoding="utf-8", errors="replace").read()
rows = [json.loads(m) for m in re.findall(r"torture-summary: (\{.*\})$", text, re.M)]
props = re.findall(r"^test properties::(\S+) \.\.\. (\w+)$", text, re.M)
if not rows:
    sys.exit("torture.sh: no torture-summary lines in the test output: " + log)


def faults(r):
    f = r.get("faults")
    if not f:
        return "—"
    kinds = {}
    for side in f.values():
        for k, v in side["by_kind"].items():
            kinds[k] = kinds.get(k, 0) + v
    return ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))


def points(r):
    if "stale_objects" in r:
        return f"SIGSTOP past its lease; stale objects in bronze: {r['stale_objects']}"
    p = r.get("kill_points")
    return ", ".join(f"{k} {v}" for k, v in sorted(p.items())) if p else "—"


cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
lines = [
    f"Run {started} with `scripts/torture.sh {iterations}{soak}` on {os.cpu_count()} × {cpu}, "
    f"{platform.system()} {platform.release()} (dev profile, stand-ins of scripts/test.sh; "
    "the soak, when run: release).",
    "",
    "| run | iterations | kill points hit | faults injected | records in | silver rows | bad rows | dedup drops | lost | duplicated | max RSS | RSS slope | seconds |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
]
for r in rows:
    lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | **{}** | **{}** | {} | {} | {} |".format(
        r["test"], r.get("iterations", 1), points(r), faults(r), r["records_in"], r["silver_rows"],
        r["bad_rows"], r["dedup_drops"], r["lost"], r["duplicated"],
        f"{r['max_rss_mib']} MiB" if "max_rss_mib" in r else "—",
        f"{r['rss_slope_mib_h']:+} MiB/h (second half)" if "rss_slope_mib_h" in r else "—", r.get("seconds", "—")))
passed = sum(1 for _, s in props if s == "ok")
lines += ["", f"Property tests at 2000 cases: {passed} of {len(props)} passed."]
table = "\n".join(lines)
print("\n" + table)
doc = "docs/reliability.md"
body = open(doc, encoding="utf-8").read()
begin, end = "<!-- torture:begin -->", "<!-- torture:end -->"
if begin not in body:
    sys.exit(f"torture.sh: {doc} has no {begin} marker")
head, rest = body.split(begin, 1)
tail = rest.split(end, 1)[1]
open(doc, "w", encoding="utf-8").write(f"{head}{begin}\n{table}\n{end}{tail}")
print(f"\nwritten to {doc}")
