"""Counts the requests of a schemathesis run, per operation and status, from its NDJSON report."""

import collections
import json
import sys

requests = collections.Counter()
statuses = collections.defaultdict(collections.Counter)
with open(sys.argv[1], encoding="utf-8") as report:
    for line in report:
        scenario = json.loads(line).get("ScenarioFinished")
        if not scenario:
            continue
        recorder = scenario["recorder"]
        for case_id, case in recorder.get("cases", {}).items():
            value = case["value"]
            operation = f'{value["method"]} {value["path"]}'
            interaction = recorder.get("interactions", {}).get(case_id)
            if not interaction or not interaction.get("response"):
                continue
            requests[operation] += 1
            statuses[operation][interaction["response"]["status_code"]] += 1

print(f"{sum(requests.values())} requests")
for operation, count in sorted(requests.items()):
    by_status = ", ".join(f"{status}: {n}" for status, n in sorted(statuses[operation].items()))
    print(f"{count:6d}  {operation}  ({by_status})")
