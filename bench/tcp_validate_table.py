#!/usr/bin/env python3
"""bench/tcp_validate_table.py CASES RESULTS [JSON_OUT] — the table of bench/tcp_validate.sh.

CASES: one case a line, `label|rtt_ms|rate_mbit|loss_ppm|case|bytes|kernel_trials|sim_seeds|check`.
RESULTS: JSON lines from tcpprobe / bench_tcp_sim / the handshake parser (side, label,
trial, ms or error) and tcpfwd's statistics per link.
Prints the forwarder's precision per link, then one side-by-side row per case and the same
rows as JSON lines (also written to JSON_OUT when given).

Acceptance (issue 16): connect and handshake within +-3 % of the kernel's median;
transfers within +-10 %; loss rows (and the flood, whose overlay is random on both
sides): simnet's median inside the kernel's min-max.
"""
import json
import sys

TOLERANCE = {"connect": 0.03, "handshake": 0.03, "transfer": 0.10, "flood": 0.03}


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def main():
    cases_path, results_path = sys.argv[1], sys.argv[2]
    json_out = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
    cases = [line.rstrip("\n").split("|") for line in open(cases_path) if line.strip()]
    data = {}
    errors = {}
    links = []
    ccs = set()
    for line in open(results_path):
        line = line.strip()
        if not line:
            continue
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if d.get("tcpfwd") == "stats":
            links.append(d)
            continue
        for k in ("cc_client", "cc_server"):
            if d.get(k):
                ccs.add(d[k])
        key = (d.get("side"), d.get("label"))
        if "error" in d:
            errors.setdefault(key, []).append(d["error"])
        elif "ms" in d:
            data.setdefault(key, []).append(float(d["ms"]))

    print("== congestion control of the kernel's sockets (tcpprobe, both ends): " + (", ".join(sorted(ccs)) or "-"))
    print("== forwarder precision (lateness of each packet's send against its due time)")
    for d in links:
        if d.get("devices", 2) > 2:
            print(f"  {d['link']}: {d['sched']}, p50 {d['late_p50_us']:.0f} us, p99 {d['late_p99_us']:.0f} us, "
                  f"max {d['late_max_us']:.0f} us; forwarded {d['forwarded']} packets, unroutable {d['unroutable']}, "
                  f"overflow {d['overflow']}, write errors {d['write_errors']}")
            continue
        print(f"  {d['link']}: {d['sched']}, p50 {d['late_p50_us']:.0f} us, p99 {d['late_p99_us']:.0f} us, "
              f"max {d['late_max_us']:.0f} us; forwarded {d['forwarded_ab']}+{d['forwarded_ba']} packets, "
              f"lost {d['lost_ab']}+{d['lost_ba']}, overflow {d['overflow']}, write errors {d['write_errors']}, "
              f"tbf drops (A,B) {d['tbf_dropped_a_b']}")

    rows = []
    for label, rtt, rate, loss, kind, nbytes, ktrials, strials, check in cases:
        s = data.get(("sim", label), [])
        k = data.get(("kernel", label), [])
        row = {"case": label, "rtt_ms": int(rtt), "rate_mbit": int(rate), "loss_ppm": int(loss),
               "kind": kind, "bytes": int(nbytes), "check": check,
               "sim_n": len(s), "kernel_n": len(k)}
        if s:
            row.update(sim_median_ms=round(median(s), 3), sim_min_ms=min(s), sim_max_ms=max(s))
        if k:
            row.update(kernel_median_ms=round(median(k), 3), kernel_min_ms=min(k), kernel_max_ms=max(k))
        why = errors.get(("sim", label), []) + errors.get(("kernel", label), [])
        if why:
            row["failed_trials"] = len(why)
            row["error"] = why[0]
        if s and k:
            ratio = row["sim_median_ms"] / row["kernel_median_ms"]
            row["ratio"] = round(ratio, 3)
            if check == "info":
                row["verdict"] = "info"
            else:
                if check in ("loss", "random"):
                    ok = row["kernel_min_ms"] <= row["sim_median_ms"] <= row["kernel_max_ms"]
                else:
                    ok = abs(ratio - 1) <= TOLERANCE[check]
                row["verdict"] = "PASS" if ok else "MISS"
        else:
            row["verdict"] = "NO DATA"
        rows.append(row)

    def rng(r, side):
        if f"{side}_median_ms" not in r:
            return "-"
        return (f"{r[side + '_median_ms']:.1f} [{r[side + '_min_ms']:.1f}-{r[side + '_max_ms']:.1f}]"
                f" n={r[side + '_n']}")

    print()
    print("== simnet vs kernel (ms; median [min-max] n=trials)")
    header = ("case", "simnet", "kernel", "sim/kernel", "acceptance", "verdict")
    table = [header]
    for r in rows:
        if r["check"] in ("loss", "random"):
            acc = "sim median in kernel min-max"
        elif r["check"] == "info":
            acc = "-"
        else:
            acc = f"+-{TOLERANCE[r['check']] * 100:.0f} %"
        table.append((r["case"], rng(r, "sim"), rng(r, "kernel"),
                      f"{r['ratio']:.3f}" if "ratio" in r else "-", acc,
                      r["verdict"] + (f" ({r['error']})" if "error" in r else "")))
    widths = [max(len(t[i]) for t in table) for i in range(len(header))]
    for i, t in enumerate(table):
        print("| " + " | ".join(c.ljust(widths[j]) for j, c in enumerate(t)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    passed = sum(r["verdict"] == "PASS" for r in rows)
    judged = sum(r["check"] != "info" for r in rows)
    print(f"\n{passed} of {judged} rows within the acceptance")
    print()
    print("== JSON lines")
    out = open(json_out, "w") if json_out else None
    for r in rows:
        line = json.dumps(r)
        print(line)
        if out:
            out.write(line + "\n")
    for d in links:
        line = json.dumps(d)
        print(line)
        if out:
            out.write(line + "\n")
    if out:
        out.close()


if __name__ == "__main__":
    main()
