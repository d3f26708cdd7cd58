"""A small external answerer for the tests of ``command:PROGRAM``.

Reads prompts as JSON lines on stdin and writes responses as JSON lines on stdout.
Usage: scripted.py MODE [ARG]

  refuse          refuse every prompt
  lookup FILE     answer each prompt with its response from FILE (JSON lines, by query_id); none if absent
  fail            print a message on stderr and exit 3
  sleep SECONDS   sleep, then refuse every prompt
  fail-on ID      exit 2 when the batch holds prompt ID, else refuse every prompt
  garbage         a line of non-JSON, then a response with a wrong type, for every prompt
"""

import json
import sys
import time


def main() -> int:
    mode = sys.argv[1]
    arg = sys.argv[2] if len(sys.argv) > 2 else None
    prompts = [json.loads(line) for line in sys.stdin if line.strip()]
    ids = [p["query_id"] for p in prompts]
    if mode == "fail":
        print("scripted answerer: model server unavailable", file=sys.stderr)
        return 3
    if mode == "fail-on" and arg in ids:
        print(f"scripted answerer: cannot answer {arg}", file=sys.stderr)
        return 2
    if mode == "sleep":
        time.sleep(float(arg))
    if mode == "lookup":
        with open(arg, encoding="utf-8") as fh:
            known = {json.loads(line)["query_id"]: line.strip() for line in fh if line.strip()}
        for qid in ids:
            if qid in known:
                print(known[qid])
        return 0
    if mode == "garbage":
        for qid in ids:
            print("this is not json")
            print(json.dumps({"query_id": qid, "refused": "yes"}))
        return 0
    for qid in ids:
        print(json.dumps({"query_id": qid, "answer": "", "refused": True, "claims": []}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
