#!/usr/bin/env python3
"""RESULT lines of highs-eval -> markdown rows, microlp and HiGHS side by side.
usage: table.py FILE...   (rows: problem, stage, start; cells: time or limit, objective, bound, gap)"""
import sys, re, math
rows = {}
order = []
starts = {}
for path in sys.argv[1:]:
    pending = None
    for line in open(path):
        m = re.match(r"# stage (\w+)(?:\((\d+)\))?: the warm start's objective (\S+)", line)
        if m:
            pending = float(m.group(3))
            continue
        if not line.startswith('RESULT'):
            continue
        d = dict(kv.split('=', 1) for kv in re.findall(r'(\w+=\S+)', line))
        # status may contain a space ("interrupted TimeLimit")
        d['status'] = re.search(r'status=(.*?) proven=', line).group(1)
        key = (d['mode'], int(d['copies']), d['factor'], d['stage'], d['start'], d.get('seed', ''))
        if key not in rows:
            rows[key] = {}
            order.append(key)
        rows[key][d['backend']] = d
        if pending is not None and d['start'] == 'warm':
            starts[key] = pending

def num(x):
    return None if x in (None, '-') else float(x)

def cell(d, stage):
    if d is None:
        return 'not run'
    t = float(d['time']); o = num(d['objective']); b = num(d['bound'])
    proven = d['proven'] == 'true'
    if 'MipGap' in d['status']:
        when = f"**{t:.2f} s gap target**"
    else:
        when = f"**{t:.2f} s optimal**" if proven else f"{t:.0f} s limit"
    if stage.startswith('count'):
        os_ = f"{-o:.0f} served" if o is not None else "no incumbent"
        bs = f"≤ {math.floor(-b + 1e-6):.0f}" if b is not None else "no bound"
        if b is not None and abs(-b - round(-b)) > 1e-6:
            bs += f" ({-b:.2f})"
        return f"{when}; {os_}; {bs}"
    os_ = f"{o:,.1f}" if o is not None else "no incumbent"
    bs = f"{b:,.1f}" if b is not None else "none"
    if o is not None and b is not None and not proven:
        gap = max(0.0, (o - b) / abs(o)) * 100
        return f"{when}; {os_}; bound {bs}; gap {gap:.3g}%"
    if proven or 'MipGap' in d['status']:
        if o is not None and b is not None and max(0.0, (o - b) / abs(o)) > 1e-9:
            when = f"**{t:.2f} s gap target**"
            return f"{when}; {os_}; gap {max(0.0, (o - b) / abs(o)) * 100:.2g}%"
        return f"{when}; {os_}"
    return f"{when}; {os_}; bound {bs}"

print("| mode | servers | f | stage | start | microlp 0.7 | HiGHS 1.16 |")
print("|---|---|---|---|---|---|---|")
def sval(k, stage):
    v = starts.get(k)
    if v is None:
        return ''
    return f" ({-v:.0f} served)" if stage.startswith('count') else f" ({v:,.1f})"
for k in order:
    mode, n, f, stage, start, seed = k
    r = rows[k]
    st = start + sval(k, stage) + (f" (seed {seed})" if seed else "")
    print(f"| {mode} | {27*n:,} | {f} | {stage} | {st} | {cell(r.get('microlp'), stage)} | {cell(r.get('highs'), stage)} |")
