#!/usr/bin/python3
"""Writes bench/reports/<name>.json, .md and .svg from one bench run's work
directory (meta.json, machine.json, burst-*.json, verify-*.json, rss.tsv).
Standard library only. Usage: report.py WORK_DIR REPORTS_DIR"""
import json
import os
import sys

work, reports = sys.argv[1], sys.argv[2]
meta = json.load(open(os.path.join(work, "meta.json")))
machine = json.load(open(os.path.join(work, "machine.json")))
scenario, name = meta["scenario"], meta["name"]


def load(kind, run):
    p = os.path.join(work, f"{kind}-{run}.json")
    return json.load(open(p)) if os.path.exists(p) else {}


runs = {r: {"burst": load("burst", r), "verify": load("verify", r)} for r in meta["runs"]}
rss = []
if os.path.exists(os.path.join(work, "rss.tsv")):
    for line in open(os.path.join(work, "rss.tsv")):
        p = line.split()
        if len(p) == 2:
            rss.append((int(p[0]), int(p[1])))


def lat(v, key, q):
    return (v.get(key) or {}).get(q)


def fmt(x, unit="", d=1):
    if x is None:
        return "n/a"
    if isinstance(x, float) and abs(x) >= 100:
        d = 0
    return f"{x:,.{d}f}{unit}"


# Targets of issue 4. Each row: figure, target text, measured text, verdict.
rows = []


def check(figure, target_text, value, unit, target, higher_better, note=""):
    if value is None:
        rows.append((figure, target_text, "n/a", "not measured" + (f" ({note})" if note else "")))
        return
    met = value >= target if higher_better else value <= target
    if met:
        verdict = "met"
    elif higher_better:
        verdict = f"missed: {value / target:.2f}× of the target ({target / value:.1f}× short)" if value > 0 else "missed"
    else:
        verdict = f"missed by {value - target:,.1f}{unit} ({value / target:.1f}× the target)"
    rows.append((figure, target_text, fmt(value, unit, 2 if value < 100 else 0), verdict + (f"; {note}" if note else "")))


main = runs.get("main", {})
v, b = main.get("verify", {}), main.get("burst", {})
dest = meta["destination"]
dest_note = "" if dest == "eventhub" else "webhook destination (`sim receive`), not the Event Hubs emulator"
figures = {}

if scenario in ("steady-5k", "steady-20k"):
    rate = float(meta["settings"]["rate"])
    figures["achieved_ack_rate"] = b.get("throughput_per_s")
    if scenario == "steady-5k":
        check("ack latency at 5,000 events/s, p99", "≤ 10 ms", lat(v, "latency_ack_ms", "p99"), " ms", 10, False)
        check("ack → arrival at 5,000 events/s, p99", "≤ 25 ms", lat(v, "latency_delivery_ms", "p99"), " ms", 25, False, dest_note)
    else:
        check("ack → arrival at 20,000 events/s, p99", "≤ 100 ms", lat(v, "latency_delivery_ms", "p99"), " ms", 100, False, dest_note)
    sv = lat(v, "latency_service_ms", "p99")
    if sv is not None:
        rows.append(("(diagnostic) ack service latency p99: answer − actual send", "—", fmt(sv, " ms", 2),
                     "Gavel's own answer time; the gap to the ack p99 is queueing behind the schedule"))
    check("offered rate sustained (acked/s)", f"{rate:,.0f} events/s", b.get("throughput_per_s"), "/s", rate * 0.97, True,
          "acks over the whole run incl. its tail")
elif scenario == "close-burst":
    e2e95, e2e99 = lat(v, "latency_end_to_end_ms", "p95"), lat(v, "latency_end_to_end_ms", "p99")
    check("producer → destination p95 (sent → arrival)", "≤ 25 ms (500 ms / 20)", e2e95, " ms", 25, False, dest_note)
    check("producer → destination p99 (sent → arrival)", "≤ 100 ms (2 s / 20)", e2e99, " ms", 100, False, dest_note)
    check("ack latency p99", "≤ 10 ms (as at 5k/s)", lat(v, "latency_ack_ms", "p99"), " ms", 10, False)
    series = v.get("series", {})
    peak = max(series.get("acked", [0]) or [0])
    figures["peak_acked_per_s"] = peak
elif scenario == "close-burst-backfill":
    # Issue 13: live traffic wins over a full-speed backfill.
    va, vb = runs["alone"]["verify"], runs["backfill"]["verify"]
    for key, label, factor in (("latency_ack_ms", "ack latency p99", 1.5),
                               ("latency_delivery_ms", "ack → arrival p99", 2.0)):
        base, with_bf = lat(va, key, "p99"), lat(vb, key, "p99")
        check(f"{label} with a full-speed backfill", f"≤ {factor}× alone ({fmt(base, ' ms')})",
              with_bf, " ms", factor * base if base else 0, False, dest_note)
        figures[f"{key}_p99"] = {"alone": base, "with_backfill": with_bf}
    ms = meta["extra"].get("backfill_ms_during_burst") or 0
    recs = meta["extra"].get("backfill_records_during_burst")
    bf_rate = recs / (ms / 1000) if ms and recs is not None else None
    figures.update(backfill_records_during_burst=recs, backfill_per_s_during_burst=bf_rate,
                   backfill_ran_throughout=meta["extra"].get("backfill_ran_throughout"))
    rows.append(("(diagnostic) backfill records stored during the second burst",
                 "—", f"{fmt(recs, '', 0)} ({fmt(bf_rate, '/s', 0)})",
                 "it ran throughout" if meta["extra"].get("backfill_ran_throughout") == 1
                 else "it ended before the burst did"))
elif scenario == "max-rate-single":
    check("durable ingest, single-event requests, keep-alive", "≥ 15,000 events/s", b.get("throughput_per_s"), "/s", 15000, True)
    figures["delivered_per_s"] = v.get("delivered_per_s")
elif scenario == "max-rate-batch100":
    check("durable ingest, batches of 100", "≥ 50,000 events/s", b.get("throughput_per_s"), "/s", 50000, True)
    figures["delivered_per_s"] = v.get("delivered_per_s")
elif scenario == "catch-up":
    live = meta["extra"]["live_rate"]
    s = v.get("series", {})
    t0 = v.get("first_sent_ms", 0)
    back_s = (meta["extra"]["outage_end_ms"] - t0) / 1000
    acked, deliv, ts = s.get("acked", []), s.get("delivered", []), s.get("t_s", [])
    ca = cd = 0
    cum = []
    for a, d in zip(acked, deliv):
        ca += a
        cd += d
        cum.append((ca, cd))
    r = next((i for i, t in enumerate(ts) if t >= back_s), None)
    drain = None
    if r is not None:
        end = next((i for i in range(r, len(cum)) if cum[i][1] >= cum[i][0] - live), None)
        if end is not None and end > r:
            backlog = cum[r][0] - cum[r][1]
            drain = (cum[end][1] - cum[r - 1][1] if r > 0 else cum[end][1]) / (end - r + 1)
            figures.update(backlog_at_return=backlog, drain_seconds=end - r + 1, drain_rate_per_s=drain)
    check("catch-up after the outage: drain rate / live rate", "≥ 5×", drain / live if drain else None, "×", 5, True,
          f"live {live:,.0f} events/s")
elif scenario == "open-auctions-100k":
    peak = meta["extra"].get("rss_peak_kb")
    n = meta["extra"].get("open_auctions", 100000)
    check(f"RSS with {n:,.0f} open auctions (peak)", "≤ 1 GiB" if n >= 100000 else "≤ 1 GiB (at 100,000)",
          peak / 1024 if peak else None, " MiB", 1024, False)
    for k in ("rss_start_kb", "rss_ingested_kb", "rss_after_heartbeats_kb"):
        if k in meta["extra"]:
            figures[k.replace("_kb", "_mib")] = round(meta["extra"][k] / 1024, 1)
elif scenario == "peer":
    g, p = runs["gavel-max"]["verify"], runs["peer-max"]["verify"]
    gd, pd = g.get("delivered_per_s"), p.get("delivered_per_s")
    figures.update(gavel_delivered_per_s=gd, peer_delivered_per_s=pd,
                   gavel_acked_per_s=runs["gavel-max"]["burst"].get("throughput_per_s"),
                   peer_acked_per_s=runs["peer-max"]["burst"].get("throughput_per_s"))
    check("delivered events/s vs graphile-worker, same run", "≥ 30×", gd / pd if gd and pd else None, "×", 30, True,
          f"Gavel {fmt(gd)}/s, graphile-worker {fmt(pd)}/s")
    g4, p4 = runs["gavel-400"]["verify"], runs["peer-400"]["verify"]
    for q in ("p50", "p99"):
        gv, pv = lat(g4, "latency_end_to_end_ms", q), lat(p4, "latency_end_to_end_ms", q)
        figures[f"sent_to_arrival_{q}_at_400_ms"] = {"gavel": gv, "peer": pv}
        if gv is not None and pv is not None:
            rows.append((f"sent → arrival {q} at 400 events/s (open loop)", "(ratio, lower is better)",
                         f"Gavel {fmt(gv, ' ms', 2)}, graphile-worker {fmt(pv, ' ms')}",
                         f"Gavel {pv / gv:.0f}× lower" if gv > 0 else "n/a"))
elif scenario in ("hubspot-hot", "hubspot-spread"):
    check("events/s to HubSpot at its default limit (first send to last delivery)", "≥ 900 events/s (the limit allows 1,000)",
          v.get("delivered_per_s"), "/s", 900, True)
    hs = {}
    if os.path.exists(os.path.join(work, "hubspot-stats.json")):
        try:
            hs = json.load(open(os.path.join(work, "hubspot-stats.json")))
        except ValueError:
            hs = {}
    # Request composition from the emulator's arrival log (each line names
    # the request that carried it).
    per_req, per_req_auction, times = {}, {}, []
    arr = os.path.join(work, "arrivals-main.jsonl")
    if os.path.exists(arr):
        for line in open(arr):
            try:
                a = json.loads(line)
            except ValueError:
                continue
            times.append(a.get("t_ms", 0))
            q = a.get("request")
            if q is None:
                continue
            per_req[q] = per_req.get(q, 0) + 1
            k = (q, a.get("auction_id"))
            per_req_auction[k] = per_req_auction.get(k, 0) + 1
    if per_req:
        figures.update(requests_with_inputs=len(per_req),
                       inputs_per_request_mean=round(sum(per_req.values()) / len(per_req), 1),
                       inputs_per_request_max=max(per_req.values()),
                       inputs_of_one_auction_in_a_request_max=max(per_req_auction.values()))
        rows.append(("(diagnostic) inputs per request: mean / max; most of one auction in one request", "≤ 100",
                     f"{figures['inputs_per_request_mean']} / {figures['inputs_per_request_max']}; "
                     f"{figures['inputs_of_one_auction_in_a_request_max']}", "from the emulator's arrival log"))
    if times and max(times) - min(times) > 15000:
        t10 = min(times) + 10000
        late = [t for t in times if t >= t10]
        rate = len(late) / ((max(times) - t10) / 1000) if max(times) > t10 else None
        figures["events_per_s_after_first_10s"] = rate
        rows.append(("(diagnostic) events/s after the first 10 s (the burst allowance spent)", "≤ 1,000 (the limit)",
                     fmt(rate, "/s"), "the rate limit, not the batching, sets this pace"))
    if hs:
        figures.update(hubspot_requests=hs.get("requests"), hubspot_max_requests_in_window=hs.get("max_requests_in_window"),
                       hubspot_rate_limited=hs.get("rate_limited"), hubspot_duplicate_ids=hs.get("duplicate_ids"))
        check("requests offered in any 10 s window (emulator's count)", "≤ 100", hs.get("max_requests_in_window"), "", 100, False)
        rows.append(("(diagnostic) 429s / duplicate-id refusals", "0", f"{hs.get('rate_limited')} / {hs.get('duplicate_ids')}", ""))
elif scenario == "overload":
    # ADR 0014: shed answers at once, admitted ones near the unloaded latency.
    ob, ub = runs["overload"]["burst"], runs["unloaded"]["burst"]
    shed = (ob.get("attempt_latency_ms") or {}).get("shed_503") or {}
    adm = (ob.get("attempt_latency_ms") or {}).get("admitted_2xx") or {}
    base = ((ub.get("attempt_latency_ms") or {}).get("admitted_2xx") or {}).get("p99")
    check("shed (503) answer latency p50", "≤ 10 ms", shed.get("p50"), " ms", 10, False)
    check("shed (503) answer latency p99", "≤ 50 ms (at once)", shed.get("p99"), " ms", 50, False)
    check("admitted (2xx) answer latency p99 under overload", "≤ 2× unloaded p99" + (f" ({fmt(base, ' ms')})" if base else ""),
          adm.get("p99"), " ms", 2 * base if base else 0, False)
    peak = meta["extra"].get("rss_peak_kb")
    check("Gavel's peak RSS (VmHWM)", "≤ 1 GiB", peak / 1024 if peak else None, " MiB", 1024, False)
    check("requests without an answer", "0", ob.get("no_answer"), "", 0, False)
    figures.update(shed_503=shed, admitted_2xx=adm, unloaded_admitted_p99_ms=base,
                   overload_acked_per_s=ob.get("throughput_per_s"),
                   unloaded_acked_per_s=ub.get("throughput_per_s"),
                   shed_fraction=(shed.get("count", 0) / ob["requests"]) if ob.get("requests") else None)
elif scenario == "smoke":
    rows.append(("verify", "ok", str(v.get("ok")), "smoke run: no targets"))

# Where the CPU went during each burst (Gavel, PostgreSQL, the sim, the
# destination emulator): per acknowledged event, and the rate at which all
# of it would fill both cores; the bound a throughput target meets on this
# machine whatever the latency of each step.
cpu_rows = []
cpu_busy = []  # (run, {process: % of all cores}, ceiling, achieved)
for r, d in runs.items():
    acked = d["burst"].get("acked")
    secs = {k: meta["extra"].get(f"cpu_{r}_{k}_s") for k in ("gavel", "postgres", "sim", "destination")}
    if not acked or secs["gavel"] is None:
        continue
    if any(v is not None and v < 0 for v in secs.values()):
        continue  # a process tree lost children (backends that exited): not measurable
    per = {k: (v or 0) * 1e6 / acked for k, v in secs.items()}
    total = sum(per.values())
    ceiling = machine["nproc"] * 1e6 / total if total > 0 else None
    figures[f"cpu_us_per_event_{r}"] = {k: round(v, 1) for k, v in per.items()}
    cpu_rows.append(f"| {r} | {acked:,} | " + " | ".join(f"{secs[k] or 0:.1f} s = {per[k]:.1f} µs" for k in
                                                         ("gavel", "postgres", "sim", "destination")) +
                    f" | {total:.1f} µs | {fmt(ceiling, '/s')} |")
    elapsed = d["burst"].get("elapsed_s")
    if elapsed:
        busy = {k: (v or 0) / (elapsed * machine["nproc"]) * 100 for k, v in secs.items()}
        figures[f"busy_percent_{r}"] = {k: round(v, 1) for k, v in busy.items()}
        cpu_busy.append((r, busy, ceiling, d["burst"].get("throughput_per_s")))
ok_all = all(r["verify"].get("ok") for r in runs.values())
report = {"scenario": scenario, "name": name, "short": meta["short"], "started": meta["started"],
          "machine": machine, "loadavg_before": meta["loadavg_before"], "loadavg_after": meta["loadavg_after"],
          "destination": dest, "settings": meta["settings"], "extra": meta["extra"], "figures": figures,
          "targets": [dict(zip(("figure", "target", "measured", "verdict"), r)) for r in rows],
          "verify_ok": ok_all, "runs": runs}
os.makedirs(reports, exist_ok=True)
json.dump(report, open(os.path.join(reports, f"{name}.json"), "w"), indent=1)

# --- SVG: throughput over time (top), latency percentiles over time (bottom,
# log scale), RSS when sampled.
W, PH, L, R, T = 900, 220, 70, 20, 30
series_runs = [(r, d["verify"].get("series", {})) for r, d in runs.items() if d["verify"].get("series")]
panels = 2 + (1 if rss else 0)
H = T + panels * (PH + 50) + 10
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{L}" y="18" font-size="14" font-weight="bold">Gavel bench: {name} ({meta["started"]}, {machine["nproc"]} CPUs, commit {machine["commit"][:10]})</text>']
colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def panel(idx, title, lines, ylog=False, yunit=""):
    top = T + idx * (PH + 50) + 20
    xs = [x for _, pts, _ in lines for x, _ in pts]
    ys = [y for _, pts, _ in lines for _, y in pts if y is not None and (y > 0 or not ylog)]
    svg.append(f'<text x="{L}" y="{top - 6}" font-weight="bold">{title}</text>')
    svg.append(f'<rect x="{L}" y="{top}" width="{W - L - R}" height="{PH}" fill="none" stroke="#999"/>')
    if not xs or not ys:
        svg.append(f'<text x="{L + 10}" y="{top + 20}">no data</text>')
        return
    import math
    x0, x1 = min(xs), max(xs) or 1
    if x1 == x0:
        x1 = x0 + 1
    if ylog:
        lo = max(min(ys), 0.01)
        y0, y1 = math.floor(math.log10(lo)), math.ceil(math.log10(max(ys)))
        if y1 == y0:
            y1 += 1
        fy = lambda y: top + PH - (math.log10(max(y, 10 ** y0)) - y0) / (y1 - y0) * PH
        for e in range(int(y0), int(y1) + 1):
            yy = fy(10 ** e)
            svg.append(f'<line x1="{L}" x2="{W - R}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#eee"/>')
            svg.append(f'<text x="{L - 4}" y="{yy + 4:.1f}" text-anchor="end">{10 ** e:g}{yunit}</text>')
    else:
        y0, y1 = 0, max(ys) * 1.05 or 1
        fy = lambda y: top + PH - (y - y0) / (y1 - y0) * PH
        for k in range(5):
            val = y0 + (y1 - y0) * k / 4
            yy = fy(val)
            svg.append(f'<line x1="{L}" x2="{W - R}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#eee"/>')
            svg.append(f'<text x="{L - 4}" y="{yy + 4:.1f}" text-anchor="end">{val:,.0f}{yunit}</text>')
    fx = lambda x: L + (x - x0) / (x1 - x0) * (W - L - R)
    for k in range(6):
        xv = x0 + (x1 - x0) * k / 5
        svg.append(f'<text x="{fx(xv):.1f}" y="{top + PH + 14}" text-anchor="middle">{xv:,.0f} s</text>')
    for i, (label, pts, color) in enumerate(lines):
        path = " ".join(f"{fx(x):.1f},{fy(y):.1f}" for x, y in pts if y is not None and (y > 0 or not ylog))
        if path:
            svg.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.4"/>')
        lx = L + 10 + (i % 4) * 200
        ly = top + PH + 30 + (i // 4) * 13
        svg.append(f'<rect x="{lx}" y="{ly - 8}" width="10" height="3" fill="{color}"/>')
        svg.append(f'<text x="{lx + 14}" y="{ly - 3}">{label}</text>')


tp, lt = [], []
ci = 0
for r, s in series_runs:
    t = s.get("t_s", [])
    pre = "" if len(series_runs) == 1 else f"{r}: "
    tp.append((pre + "acked/s", list(zip(t, s.get("acked", []))), colors[ci % 8]))
    tp.append((pre + "delivered/s", list(zip(t, s.get("delivered", []))), colors[(ci + 1) % 8]))
    lt.append((pre + "ack p99", list(zip(t, s.get("ack_p99_ms", []))), colors[ci % 8]))
    lt.append((pre + "ack→arrival p50", list(zip(t, s.get("delivery_p50_ms", []))), colors[(ci + 2) % 8]))
    lt.append((pre + "ack→arrival p99", list(zip(t, s.get("delivery_p99_ms", []))), colors[(ci + 1) % 8]))
    ci += 3
panel(0, "Throughput (events/s, 1 s buckets)", tp)
panel(1, "Latency per second (ms, log scale)", lt, ylog=True, yunit="")
if rss:
    t0 = rss[0][0]
    panel(2, "Gavel RSS (MiB)", [("RSS", [((t - t0) / 1000, kb / 1024) for t, kb in rss], colors[4])])
svg.append("</svg>")
open(os.path.join(reports, f"{name}.svg"), "w").write("\n".join(svg))

# --- Markdown
md = [f"# Bench: {name}", "",
      f"Run {meta['started']} by `bench/run.sh {scenario}{' --short' if meta['short'] else ''}` "
      f"(destination: {dest}). Chart: [{name}.svg]({name}.svg); raw figures: [{name}.json]({name}.json).", "",
      "## Machine", "",
      f"- {machine['nproc']} CPUs: {machine['cpu']}; RAM {machine['ram_gib']} GiB; kernel {machine['kernel']}; PostgreSQL {machine['pg']}",
      f"- {'Gavel' if machine.get('sim_commit') not in (None, machine['commit']) else 'Gavel and sim'} built from commit `{machine['commit']}`{' (that working tree had uncommitted changes: figures are not for that commit alone)' if machine['dirty'] else ''}"
      + (f"; sim built from `{machine['sim_commit']}`{' (plus uncommitted changes)' if machine.get('sim_dirty') else ''}"
         if machine.get('sim_commit') and machine.get('sim_commit') != machine['commit'] else "")
      + (f"; bench scripts at `{machine.get('bench_commit')}`" if machine.get('bench_commit') and machine.get('bench_commit') != machine['commit'] else ""),
      f"- load average before {' '.join(meta['loadavg_before'])}, after {' '.join(meta['loadavg_after'])}. "
      "The machine is shared with other agents building C++ at the same time: figures are noisy and "
      "pessimistic; Gavel, PostgreSQL (synchronous commit, fsync on), the sim and the receiver all share these cores.",
      "", "## Settings", ""]
md += [f"- {k}: {val}" for k, val in meta["settings"].items()]
md += ["", "## Against the targets (issue 4)", "", "| figure | target | measured | verdict |", "|---|---|---|---|"]
md += [f"| {a} | {b_} | {c} | {d} |" for a, b_, c, d in rows]
md += ["", "## Runs", ""]
for r, d in runs.items():
    bb, vv = d["burst"], d["verify"]
    md.append(f"### {r}")
    md.append("")
    md.append(f"- sim burst: {bb.get('events')} events ({bb.get('workload', '')}), mode {bb.get('mode')}, "
              f"{bb.get('connections')} connections, batch {bb.get('batch')}; acked {bb.get('acked')} in "
              f"{fmt(bb.get('elapsed_s'), ' s')} = **{fmt(bb.get('throughput_per_s'), ' events/s')}**, "
              f"retries {bb.get('retries')}, failed {bb.get('failed')}, rejected {bb.get('rejected')}, "
              f"at most {fmt(bb.get('max_behind_ms'), ' ms')} behind schedule")
    bh = bb.get("behind_ms") or {}
    if bh.get("count"):
        md.append(f"- open-loop dispatch: first sends behind their schedule p50 {fmt(bh.get('p50'), ' ms', 2)}, "
                  f"p99 {fmt(bh.get('p99'), ' ms', 2)}, max {fmt(bh.get('max'), ' ms', 1)}; "
                  f"{bb.get('connections_opened', 'n/a')} connections opened (initial {bb.get('connections')}, cap "
                  f"{bb.get('max_connections', 'n/a')}), {bb.get('peak_in_flight', 'n/a')} requests in flight "
                  f"at the peak, {bb.get('pool_waits', 0)} events waited for a connection at the pool's cap, "
                  f"{bb.get('held', 0)} held for an earlier answer of their auction")
    md.append(f"- verify: **{'OK' if vv.get('ok') else 'FAILED'}** — delivered {vv.get('delivered_unique')} unique "
              f"({vv.get('redeliveries')} redeliveries, {vv.get('heartbeats')} heartbeats), lost {vv.get('lost')}, "
              f"out of order {vv.get('out_of_order')}, gaps {vv.get('gaps')}, close mismatches {vv.get('close_mismatch')}; "
              f"delivered {fmt(vv.get('delivered_per_s'), ' events/s')} (first send to last delivery)")
    for key, label in (("latency_ack_ms", "ack (from the scheduled send)"),
                       ("latency_service_ms", "ack service (from the actual send: Gavel alone)"),
                       ("latency_delivery_ms", "ack → arrival"),
                       ("latency_end_to_end_ms", "sent → arrival")):
        p = vv.get(key) or {}
        if p.get("count"):
            md.append(f"- {label} latency (ms, n={p['count']}): p50 {fmt(p.get('p50'), '', 2)}, p95 {fmt(p.get('p95'), '', 2)}, "
                      f"p99 {fmt(p.get('p99'), '', 2)}, p99.9 {fmt(p.get('p999'), '', 2)}, max {fmt(p.get('max'), '', 1)}")
    md.append("")
if cpu_rows:
    md += ["## Where the CPU goes", "",
           "CPU time (user + system) each process used during the burst, per acknowledged event; the ceiling is "
           f"the rate at which that work fills all {machine['nproc']} cores (an upper bound for any throughput on "
           "this machine, whatever the latencies).", "",
           "| run | acked | Gavel | PostgreSQL | sim (client) | destination | total / event | ceiling |",
           "|---|---|---|---|---|---|---|---|"] + cpu_rows + [""]
    md += ["## What limits it", ""]
    for r, busy, ceiling, achieved in cpu_busy:
        tot = sum(busy.values())
        md.append(f"- {r}: during the burst the machine's {machine['nproc']} cores were {tot:.0f} % busy with this "
                  f"run's processes (Gavel {busy['gavel']:.0f} %, PostgreSQL {busy['postgres']:.0f} %, sim "
                  f"{busy['sim']:.0f} %, destination {busy['destination']:.0f} %).")
        if meta["settings"].get("mode", "").startswith("closed loop") and ceiling and achieved:
            md.append(f"  Closed loop runs as fast as the machine allows: {fmt(achieved, '/s')} reached against a "
                      f"CPU ceiling of {fmt(ceiling, '/s')}; a throughput target above the ceiling cannot be met on "
                      "this machine without less CPU per event (Gavel's and PostgreSQL's shares above).")
        else:
            md.append("  At a fixed rate, latency is set by how busy the cores are: every event crosses threads "
                      "(HTTP I/O thread → actor workers → the store's thread and PostgreSQL's backend → back), and "
                      "each crossing waits for a core when they are busy. The profiles "
                      "([profile-batch1-rate5000.txt](profile-batch1-rate5000.txt), "
                      "[profile-batch1.txt](profile-batch1.txt), [profile-batch100.txt](profile-batch100.txt)) "
                      "show where Gavel's own share goes: the kernel's context switches first, then JSON parsing, "
                      "HTTP and allocation.")
    md.append("")
if figures:
    md += ["## Other figures", ""] + [f"- {k}: {json.dumps(val)}" for k, val in figures.items()] + [""]
open(os.path.join(reports, f"{name}.md"), "w").write("\n".join(md) + "\n")
print(f"bench: wrote {reports}/{name}.md, .json, .svg (verify {'OK' if ok_all else 'FAILED'})")
sys.exit(0 if ok_all else 1)
