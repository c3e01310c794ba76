#!/usr/bin/env python3
"""Prints the alerts and the bypassed flows of an EVE JSON file (xids's or Suricata's), one line each.

  eve_summary.py alerts EVE.json
  eve_summary.py bypassed EVE.json
"""
import json
import sys


def endpoint(e, side):
    ip = e.get(side + "_ip", "?")
    port = e.get(side + "_port")
    return f"{ip}:{port}" if port is not None else ip


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("alerts", "bypassed"):
        sys.exit(__doc__)
    with open(sys.argv[2]) as f:
        for line in f:
            e = json.loads(line)
            what = f"{e.get('proto', '?')} {endpoint(e, 'src')} -> {endpoint(e, 'dest')}"
            if sys.argv[1] == "alerts" and e.get("event_type") == "alert":
                a = e["alert"]
                print(f"  sid {a['signature_id']} ({a['action']}): {a['signature']}  [{what}]")
            elif sys.argv[1] == "bypassed" and e.get("event_type") == "flow" and e["flow"].get("state") == "bypassed":
                fl, k = e["flow"], e["flow"].get("bypassed", {})
                print(f"  {what}: the engine saw {fl['pkts_toserver']}+{fl['pkts_toclient']} packets, "
                      f"the kernel dropped {k.get('pkts_toserver', 0)}+{k.get('pkts_toclient', 0)} more "
                      f"({fl.get('reason', '?')})")


if __name__ == "__main__":
    main()
