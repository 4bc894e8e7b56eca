#!/usr/bin/python3
# Turn bench/run's raw TSV into the results page (Markdown: a table per
# scenario, hoist's ratio to each peer, the target table) and a bar
# chart (gnuplot, PNG). Standard library only.
# Usage: report.py RESULTS.tsv OUT.md OUT.png
import os, statistics, subprocess, sys, tempfile

TOOLS = ['hoist', 'buildkit', 'buildah', 'podman']
SCEN = [
    ('ref', 'Reference build (Dockerfile.ref: 2 RUNs, context COPY, COPY --from)',
     ['cold', 'noop', 'change1', 'push']),
    ('copy', 'Reference build without RUN (Dockerfile.copy: same context COPY and COPY --from)',
     ['cold', 'noop', 'change1', 'push']),
    ('runs', 'Ten small RUNs on Debian', ['cold', 'change5']),
    ('big', 'One big layer (COPY of an incompressible file), build then push', None),
    ('multiarch', 'Three platforms (amd64, arm64, arm/v7), small RUN under qemu', ['cold']),
    ('chain', 'Chain of nine steps (each FROM the previous, one small RUN)', ['cold', 'change5']),
]
PHASE_TEXT = {'total-': 'build + push', 'cold': 'cold build', 'noop': 'no-op rebuild', 'change1': 'one context file changed',
              'push': 'push to an empty registry', 'change5': 'rebuild after a change in step 5'}


def load(path):
    meta, rows = [], []
    with open(path) as f:
        for line in f:
            line = line.rstrip('\n')
            if line.startswith('#'):
                meta.append(line[1:].strip())
                continue
            if line.startswith('scenario\t') or not line:
                continue
            c = line.split('\t')
            c += [''] * (10 - len(c))
            rows.append(dict(zip(['scen', 'tool', 'phase', 'run', 'wall', 'cpu', 'rss', 'daemon', 'rc',
                                  'note'], c)))
    return meta, rows


class Fig:
    """Runs of one (scenario, tool, phase): medians, or why there are none."""

    def __init__(self):
        self.wall, self.cpu, self.mem, self.na = [], [], [], None

    def add(self, r):
        if r['wall'] == 'na':
            self.na = self.na or r['note']
            return
        self.wall.append(float(r['wall']))
        self.cpu.append(float(r['cpu'] or 0))
        # BuildKit: the client's peak plus the daemons' high-water mark.
        self.mem.append((int(r['rss'] or 0) + int(r['daemon'] or 0)) / 1024.0)

    def ok(self):
        return bool(self.wall)

    def med(self, what='wall'):
        v = getattr(self, what)
        return statistics.median(v) if v else None

    def cell(self, what='wall', unit='s'):
        if not self.ok():
            return self.na or 'n/a'
        v = getattr(self, what)
        m = statistics.median(v)
        if len(v) == 1:
            return '%s %s' % (fmt(m), unit)
        return '%s %s (%s–%s)' % (fmt(m), unit, fmt(min(v)), fmt(max(v)))


def fmt(x):
    if x is None:
        return 'n/a'
    return '%.3g' % x if x < 100 else '%.0f' % x


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def main():
    tsv, out_md, out_png = sys.argv[1:4]
    meta, rows = load(tsv)
    figs = {}
    for r in rows:
        figs.setdefault((r['scen'], r['tool'], r['phase']), Fig()).add(r)
    # BuildKit and buildah leave the compression of a layer to the push, hoist
    # does it while building: only build + push compares like with like.
    for (scen, tool, ph) in list(figs):
        if scen == 'big' and ph.startswith('build-'):
            b, p = figs[(scen, tool, ph)], figs.get((scen, tool, 'push-' + ph[6:]))
            f = Fig()
            if b.ok() and p is not None and p.ok():
                f.wall = [x + y for x, y in zip(b.wall, p.wall)]
                f.cpu = [x + y for x, y in zip(b.cpu, p.cpu)]
                f.mem = [max(x, y) for x, y in zip(b.mem, p.mem)]
            else:
                f.na = b.na or (p.na if p is not None else None) or 'n/a'
            figs[(scen, tool, 'total-' + ph[6:])] = f
    tools = [t for t in TOOLS if any(k[1] == t for k in figs)]
    peers = [t for t in tools if t != 'hoist']

    def fig(s, t, p):
        f = figs.get((s, t, p))
        if f is None:
            f = figs.get((s, t, 'all'))  # a whole scenario marked unavailable
        return f or Fig()

    md = ['# hoist benchmark: %s' % os.path.basename(tsv)[:-4], '']
    md += ['- ' + m for m in meta]
    md += ['', 'Each cell: median of the runs (min–max). Wall time from `/usr/bin/time`; memory is the '
           'peak RSS of the largest process, plus for BuildKit the high-water mark of dockerd and its '
           'containerd (BuildKit runs inside dockerd). Ratios are hoist ÷ peer on the medians: below 1 '
           'means hoist is faster or smaller. Raw runs: the `.tsv` beside this file.', '']

    chart = []  # (label, {tool: wall median})
    for scen, title, phases in SCEN:
        if not any(k[0] == scen for k in figs):
            continue
        if phases is None:
            phases = sorted({k[2] for k in figs if k[0] == scen and k[2] != 'all'},
                            key=lambda p: (int(''.join(ch for ch in p if ch.isdigit()) or 0), p.startswith('total'), p))
        md += ['## %s (`%s`)' % (title, scen), '']
        for what, unit, head in (('wall', 's', 'wall time'), ('mem', 'MiB', 'peak memory')):
            md.append('| %s | %s | %s |' % (head, ' | '.join(tools),
                                           ' | '.join('hoist ÷ %s' % p for p in peers)))
            md.append('|' + '---|' * (1 + len(tools) + len(peers)))
            for ph in phases:
                cells = [fig(scen, t, ph).cell(what, unit) for t in tools]
                h = fig(scen, 'hoist', ph).med(what)
                rs = []
                for p in peers:
                    x = ratio(h, fig(scen, p, ph).med(what))
                    rs.append('**%.2f**' % x if x is not None else '–')
                name = PHASE_TEXT.get(ph, ph)
                if ph.startswith('total-'):
                    name = '**build + push, %s**' % ph[6:]
                md.append('| %s | %s | %s |' % (name, ' | '.join(cells), ' | '.join(rs)))
                if what == 'wall':
                    chart.append(('%s %s' % (scen, ph), {t: fig(scen, t, ph).med('wall') for t in tools}))
            md.append('')

    # Compression micro-benchmark.
    z, hl = fig('compress', 'zlib-1thread', 'write'), fig('compress', 'hoist-layer', 'write')
    comp_ratio = None
    if z.ok() and hl.ok():
        comp_ratio = z.med() / hl.med()
        md += ['## Layer compression (`compress`)', '',
               'The same bytes (%s), in one process: zlib `deflate` on one thread against hoist\'s '
               'layer writer (tar + gzip + both sha256 + store commit). Throughput ratio = zlib time ÷ '
               'hoist time.' % (next((r['note'] for r in rows if r['scen'] == 'compress'), '')), '',
               '| | wall | CPU |', '|---|---|---|',
               '| zlib, 1 thread | %s | %s |' % (z.cell(), z.cell('cpu')),
               '| hoist layer writer | %s | %s |' % (hl.cell(), hl.cell('cpu')),
               '| throughput ratio | **%.2f×** | |' % comp_ratio, '']

    # The targets.
    def vs(scen, ph, target, peer='buildkit'):
        h = fig(scen, 'hoist', ph)
        if peer == 'best':
            cands = [(fig(scen, p, ph).med(), p) for p in peers if fig(scen, p, ph).ok()]
            if not cands:
                return 'no peer figure', '–'
            b, peer = min(cands)
        else:
            b = fig(scen, peer, ph).med()
        if not h.ok():
            alt = ''
            if scen == 'ref':
                hc, bc = fig('copy', 'hoist', ph).med(), None
                if peer == 'buildkit' or True:
                    cands = [fig('copy', p, ph).med() for p in ([peer] if peer in peers else peers)]
                    cands = [c for c in cands if c]
                    bc = min(cands) if cands else None
                x = ratio(hc, bc)
                if x is not None:
                    alt = '; without RUN (`copy`): %.2f × %s — %s' % (
                        x, peer, 'met' if x <= target else 'missed')
            return (h.na or 'n/a') + alt, '–'
        x = ratio(h.med(), b)
        if x is None:
            return 'no %s figure' % peer, '–'
        c = ratio(h.med('cpu'), fig(scen, peer, ph).med('cpu'))
        cpu = ' (CPU: %.2f)' % c if c is not None else ''
        return '%.2f × %s%s' % (x, peer, cpu), 'met' if x <= target else '**missed**'

    md += ['## Targets (issue 8)', '', '| figure | target | now (wall; CPU ratio in brackets) | verdict (on wall) |', '|---|---|---|---|']
    for label, scen, ph, tgt, peer in (('no-op rebuild, reference build', 'ref', 'noop', 0.10, 'buildkit'),
                                       ('one-file-change rebuild', 'ref', 'change1', 0.50, 'buildkit'),
                                       ('cold build', 'ref', 'cold', 0.70, 'buildkit'),
                                       ('push to an empty registry', 'ref', 'push', 0.50, 'best')):
        now, v = vs(scen, ph, tgt, peer)
        md.append('| %s | ≤ %.2f × %s | %s | %s |' % (label, tgt, 'the fastest peer' if peer == 'best'
                                                      else 'BuildKit', now, v))
    big = sorted({k[2] for k in figs if k[0] == 'big' and k[1] == 'hoist' and not k[2].startswith('total')},
                 key=lambda p: int(''.join(ch for ch in p if ch.isdigit()) or 0))
    mems = {}
    for ph in big:
        f = fig('big', 'hoist', ph)
        if f.ok():
            size = int(''.join(ch for ch in ph if ch.isdigit()))
            mems[size] = max(mems.get(size, 0), max(f.mem))
    if mems:
        top, low = max(mems), min(mems)
        flat = mems[top] <= 1.25 * mems[low] + 4
        ok = mems[top] <= 64 and flat
        now = ', '.join('%d MiB layer: %.1f MiB' % (s, m) for s, m in sorted(mems.items()))
        md.append('| peak memory, big layer | ≤ 64 MiB, flat as the layer grows | %s | %s |' %
                  (now, 'met' if ok else '**missed**'))
    else:
        md.append('| peak memory, big layer | ≤ 64 MiB, flat | n/a | – |')
    if comp_ratio is not None:
        md.append('| layer compression on 2 cores | ≥ 1.7 × single-threaded zlib | %.2f × | %s |' %
                  (comp_ratio, 'met' if comp_ratio >= 1.7 else '**missed**'))
    else:
        md.append('| layer compression on 2 cores | ≥ 1.7 × zlib | n/a | – |')
    md += ['', '![chart](%s)' % os.path.basename(out_png), '']
    with open(out_md, 'w') as f:
        f.write('\n'.join(md))

    # Chart: median wall time per figure and tool (log scale), and below it
    # hoist's ratio to each peer (a missing bar: hoist or the peer has no figure).
    with tempfile.TemporaryDirectory() as td:
        dat = os.path.join(td, 'w.dat')
        with open(dat, 'w') as f:
            f.write('label ' + ' '.join(tools) + ' ' + ' '.join('r_' + p for p in peers) + '\n')
            for label, m in chart:
                vals = ['%.3f' % m[t] if m[t] else 'NaN' for t in tools]
                rs = []
                for p in peers:
                    x = ratio(m.get('hoist'), m.get(p))
                    rs.append('%.3f' % x if x else 'NaN')
                f.write('"%s" %s %s\n' % (label, ' '.join(vals), ' '.join(rs)))
        n = len(tools)
        colors = {'hoist': '#d62728', 'buildkit': '#1f77b4', 'buildah': '#2ca02c', 'podman': '#9467bd'}
        gp = ['set terminal pngcairo size 1500,1000 font "sans,10"', 'set output "%s"' % out_png,
              'set datafile missing "NaN"', 'set style data histogram',
              'set style histogram clustered gap 1', 'set style fill solid 0.9 border -1',
              'set xtics rotate by -35 left', 'set key top left', 'set grid ytics',
              'set multiplot layout 2,1 title "hoist vs peers: %s (hoist bars missing = n/a, e.g. needs RUN)"'
              % os.path.basename(tsv)[:-4],
              'set logscale y', 'set ylabel "median wall time, s (log)"',
              'plot ' + ', '.join('"%s" using %d:xtic(1) title "%s" lc rgb "%s"' % (dat, i + 2, t, colors[t])
                                  for i, t in enumerate(tools)),
              'set ylabel "hoist ÷ peer (wall; < 1: hoist faster)"',
              'set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 dt 2 lc rgb "black"',
              'plot ' + ', '.join('"%s" using %d:xtic(1) title "hoist ÷ %s" lc rgb "%s"' %
                                  (dat, n + 2 + i, p, colors[p]) for i, p in enumerate(peers))
              if peers else '',
              'unset multiplot']
        gpf = os.path.join(td, 'c.gp')
        with open(gpf, 'w') as f:
            f.write('\n'.join(g for g in gp if g) + '\n')
        r = subprocess.run(['gnuplot', gpf], capture_output=True, text=True)
        if r.returncode != 0:
            sys.stderr.write('report.py: gnuplot failed: %s\n' % r.stderr)
    print(out_md)


main()
