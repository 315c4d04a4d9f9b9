// memtap's flamegraph page: reads the data block (schema: docs/reports.md), builds the
// flamegraph for the chosen view, thread, moment and toggles, draws it with d3-flame-graph
// and the heap over time with d3. Names in the data are only ever put in text nodes
// (d3's .text()), never parsed as markup.
(function () {
  'use strict';

  // The views: which site column gives a frame's width, which one the tooltip adds.
  const VIEWS = [
    { id: 'peak', label: 'live at peak', value: 'peak_bytes', second: 'peak_blocks',
      bytes: true, what: 'live at the peak', secondWhat: 'blocks',
      note: (m) => `Memory live at the heap peak (${fmtBytes(m.peak_bytes)} at ` +
        `${fmtTime(m.peak_time_ms)}): a frame's width is the bytes its stacks still held then.` },
    { id: 'leaked', label: 'leaked', value: 'leaked_bytes', second: 'leaked_blocks',
      bytes: true, what: 'leaked', secondWhat: 'blocks',
      note: () => 'Leaked memory: blocks never freed, still live when the capture ended.' },
    { id: 'total', label: 'total allocated', value: 'total_bytes', second: 'allocations',
      bytes: true, what: 'allocated in all', secondWhat: 'calls',
      note: () => 'Every byte allocated during the run, freed or not.' },
    { id: 'count', label: 'allocation count', value: 'allocations', second: 'total_bytes',
      bytes: false, what: 'allocation calls', secondBytes: true, secondWhat: 'allocated',
      note: () => 'The number of allocation calls: a frame\'s width is how many it made.' },
    { id: 'temporary', label: 'temporary', value: 'temporary_allocations',
      second: 'temporary_bytes', bytes: false, what: 'temporary allocations',
      secondBytes: true, secondWhat: 'in temporary blocks',
      note: () => 'Temporary allocations: blocks freed before any other allocation was made ' +
        '(as memtap summary counts them); a frame\'s width is how many it made.' },
  ];
  // The memray-like temporal view: the memory live at one moment of the timeline.
  const MOMENT_VIEW = { id: 'moment', bytes: true, what: 'live then', secondWhat: 'blocks' };
  const KIND_NAMES = ['native', 'Python', 'interpreter', 'other'];
  const KIND_LABELS = ['native frame', 'Python frame', 'interpreter frame (native, inside Python)',
    'merged small stacks'];

  const timings = {};
  const t0 = performance.now();
  const state = { view: 'peak', moment: -1, thread: -1, pythonOnly: false,
    hideInterpreter: false, inverted: false, search: '' };
  window.memtap = { state, timings }; // read by the browser tests

  // ---- formatting ------------------------------------------------------------------
  const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  function fmtBytes(n) {
    let i = 0;
    while (Math.abs(n) >= 1024 && i < UNITS.length - 1) { n /= 1024; i++; }
    return i === 0 ? `${n} B` : `${n.toFixed(n < 10 ? 2 : 1)} ${UNITS[i]}`;
  }
  const fmtCount = (n) => Math.round(n).toLocaleString('en-US');
  function fmtTime(ms) {
    if (ms === null || ms === undefined) return '?';
    return ms < 1000 ? `${+ms.toFixed(1)} ms` : `${+(ms / 1000).toFixed(3)} s`;
  }
  const fmtPct = (part, whole) => (whole > 0 ? `${(100 * part / whole).toFixed(2)}%` : '0%');
  const fmtValue = (v, bytes) => (bytes ? fmtBytes(v) : fmtCount(v));

  // ---- data ------------------------------------------------------------------------
  function loadData() {
    const text = document.getElementById('memtap-data').textContent;
    if (text.trim() === '@MEMTAP_' + 'DATA@') throw new Error('this page has no data (template only)');
    const d = JSON.parse(text);
    if (d.schema !== 1) throw new Error(`unknown data schema ${d.schema} (this page reads 1)`);
    return d;
  }

  let data, nodeParent, nodeFrame, frameKind, innerPython, frameLabel;
  // Columns turned into typed arrays once; innerPython[n]: the innermost Python frame's node
  // at or above node n, -1 when its stack has none above it (nodes come parents first).
  function prepare() {
    nodeParent = Int32Array.from(data.nodes.parent);
    nodeFrame = Int32Array.from(data.nodes.frame);
    frameKind = Uint8Array.from(data.frames.kind);
    innerPython = new Int32Array(nodeParent.length).fill(-1);
    for (let n = 1; n < nodeParent.length; n++)
      innerPython[n] = frameKind[nodeFrame[n]] === 1 ? n : innerPython[nodeParent[n]];
    // A Python frame's label shows its line: one function's lines are different frames.
    const f = data.frames;
    frameLabel = f.name.map((name, i) => (f.kind[i] === 1 && f.line[i] > 0
      ? `${name} (${baseName(f.file[i])}:${f.line[i]})` : name));
  }
  const baseName = (p) => (p ? p.slice(p.lastIndexOf('/') + 1) : '?');

  // The figures of each site for the current view (or moment): [value, second] arrays.
  function siteFigures() {
    const s = data.sites, n = s.node.length;
    if (state.moment < 0) {
      const v = VIEWS.find((x) => x.id === state.view);
      return [s[v.value], s[v.second]];
    }
    // Sparse temporal entries: a site's figure at moment m is its latest entry at or before m.
    const t = data.temporal, bytes = new Float64Array(n), blocks = new Float64Array(n);
    const at = new Int32Array(n).fill(-1);
    for (let e = 0; e < t.site.length; e++) {
      const m = t.moment[e], site = t.site[e];
      if (m <= state.moment && m >= at[site]) {
        at[site] = m; bytes[site] = t.bytes[e]; blocks[site] = t.blocks[e];
      }
    }
    return [bytes, blocks];
  }

  // Builds the flamegraph's tree: each site's call path, from its node up to the root, with
  // the toggles applied, merged with the paths that show the same frames. A node's place
  // (its "display node") depends only on its ancestors, so it is computed once per node.
  //  - hide interpreter frames: kind-2 frames are skipped wherever they are.
  //  - Python frames only: in a stack that has Python frames, the native frames outer of its
  //    innermost Python frame are dropped (the interpreter loop, the start-up, the C code
  //    between Python calls); those innermost of it stay: they show which C code (an
  //    extension, the object allocator) allocated. Stacks without Python keep everything.
  function buildTree() {
    const t1 = performance.now();
    const [values, seconds] = siteFigures();
    const s = data.sites, nFrames = frameKind.length;
    const disp = new Int32Array(nodeParent.length).fill(-1);
    disp[0] = 0;
    // display nodes, columnar: each comes from at least one tree node, so there are no more
    // of them than tree nodes (typed arrays sized once: less garbage to collect)
    const cap = nodeParent.length, dFrame = new Int32Array(cap), dParent = new Int32Array(cap);
    const dSelf = new Float64Array(cap), dSecond = new Float64Array(cap), dKinds = new Int32Array(cap);
    dFrame[0] = -1; dParent[0] = -1;
    let n = 1;
    const childOf = new Map(); // parent display node * (nFrames + 1) + frame -> display node
    const child = (parent, frame) => {
      const key = parent * (nFrames + 1) + frame;
      let d = childOf.get(key);
      if (d === undefined) {
        d = n++;
        childOf.set(key, d);
        dFrame[d] = frame; dParent[d] = parent;
      }
      return d;
    };
    const chain = [];
    const resolve = (node) => {
      for (let n = node; disp[n] < 0; n = nodeParent[n]) chain.push(n);
      while (chain.length) { // outermost first: every ancestor is resolved before its child
        const n = chain.pop(), frame = nodeFrame[n], kind = frameKind[frame];
        let base = disp[nodeParent[n]];
        if (state.pythonOnly && kind === 1) {
          const outer = innerPython[nodeParent[n]];
          base = outer < 0 ? 0 : disp[outer];
        }
        disp[n] = state.hideInterpreter && kind === 2 ? base : child(base, frame);
      }
      return disp[node];
    };
    for (let i = 0; i < s.node.length; i++) {
      const v = values[i];
      if (!(v > 0) || (state.thread >= 0 && s.thread[i] !== state.thread)) continue;
      const d = resolve(s.node[i]);
      dSelf[d] += v; dSecond[d] += seconds[i]; dKinds[d] |= s.kinds[i];
    }
    // Totals and kinds bottom-up (display nodes were made parents first), then the objects.
    const total = dSelf.slice(0, n), second = dSecond.slice(0, n), kinds = dKinds.slice(0, n);
    for (let d = n - 1; d > 0; d--) {
      total[dParent[d]] += total[d]; second[dParent[d]] += second[d]; kinds[dParent[d]] |= kinds[d];
    }
    const objs = new Array(n);
    for (let d = 0; d < n; d++) {
      const f = dFrame[d];
      objs[d] = { name: f < 0 ? 'all' : frameLabel[f], value: dSelf[d], total: total[d],
        second: second[d], kinds: kinds[d], frame: f, children: [] };
      if (d > 0) objs[dParent[d]].children.push(objs[d]);
    }
    for (const o of objs) { // widest first; equal ones by name, so the order is stable
      if (o.children.length > 1)
        o.children.sort((a, b) => b.total - a.total || (a.name < b.name ? -1 : a.name > b.name));
    }
    timings.build_ms = performance.now() - t1;
    timings.display_nodes = n;
    return objs[0];
  }

  // ---- the flamegraph --------------------------------------------------------------
  let chart, tree;
  const currentView = () => (state.moment >= 0 ? MOMENT_VIEW : VIEWS.find((x) => x.id === state.view));

  function frameColor(d) {
    if (d.highlight) return '#e600e6';
    const f = d.data.frame;
    if (f < 0) return '#b8b8b8';
    const kind = frameKind[f], h = hash(d.data.name);
    if (kind === 1) return `hsl(${195 + 35 * h}, 65%, ${62 + 12 * h}%)`;
    if (kind === 2) return `hsl(${260 + 20 * h}, 18%, ${74 + 8 * h}%)`;
    if (kind === 3) return '#d4d4d4';
    return `hsl(${4 + 30 * h}, 85%, ${60 + 10 * h}%)`;
  }
  // A stable number in [0, 1) from a name's first letters, so a function keeps its shade.
  function hash(name) {
    let h = 0;
    for (let i = 0; i < name.length && i < 12; i++) h = (h * 31 + name.charCodeAt(i)) % 1009;
    return h / 1009;
  }

  function tooltipText(d) {
    const v = currentView(), o = d.data, f = o.frame, fr = data.frames, lines = [o.name];
    if (f >= 0) {
      if (fr.file[f]) lines.push(fr.line[f] > 0 ? `${fr.file[f]}:${fr.line[f]}` : fr.file[f]);
      if (fr.module[f]) lines.push(`in ${fr.module[f]}`);
      lines.push(KIND_LABELS[frameKind[f]] || 'frame');
    }
    lines.push(`${fmtValue(o.total, v.bytes)} ${v.what}: ${fmtPct(o.total, tree.total)} of the view`);
    if (o.value > 0 && o.value < o.total) lines.push(`${fmtValue(o.value, v.bytes)} in this frame itself`);
    lines.push(`${fmtValue(o.second, v.secondBytes)} ${v.secondWhat}`);
    const kinds = data.allocator_kinds.filter((_, bit) => o.kinds & (1 << bit));
    if (kinds.length) lines.push(`allocators: ${kinds.join(', ')}`);
    return lines.join('\n');
  }

  // The tooltip, in the shape d3-flame-graph calls (tip(svg), tip.show(event, d), tip.hide()):
  // its text through .text(), and placed after it is shown, when its size is known (the
  // library's own measures it while hidden, and so runs off the window's right edge).
  function makeTooltip() {
    let div = null;
    const tip = () => { div = d3.select('body').append('div').attr('class', 'd3-flame-graph-tip'); };
    tip.show = (event, d) => {
      div.text(tooltipText(d)).style('display', 'block');
      const w = div.node().offsetWidth, h = div.node().offsetHeight;
      let left = event.pageX + 12, top = event.pageY + 12;
      if (left + w > window.scrollX + window.innerWidth) left = Math.max(window.scrollX, event.pageX - w - 12);
      if (top + h > window.scrollY + window.innerHeight) top = Math.max(window.scrollY, event.pageY - h - 12);
      div.style('left', `${left}px`).style('top', `${top}px`);
      return tip;
    };
    tip.hide = () => { if (div) div.style('display', 'none'); return tip; };
    tip.destroy = () => { if (div) div.remove(); };
    return tip;
  }

  function makeChart() {
    const tip = makeTooltip();
    chart = flamegraph.default()
      .width(chartWidth())
      .cellHeight(18)
      .transitionDuration(250)
      .minFrameSize(1) // frames under a pixel wide are not drawn (huge captures stay light)
      .selfValue(true) // a node's value is its own bytes; d3-flame-graph adds the children
      .resetHeightOnZoom(true)
      .tooltip(tip)
      .setColorMapper((d) => frameColor(d))
      .setSearchMatch(searchMatch)
      .setSearchHandler(searchResult)
      .setLabelHandler((d) => {
        const v = currentView();
        return `${d.data.name}: ${fmtValue(d.data.total, v.bytes)}, ${fmtPct(d.data.total, tree.total)}`;
      })
      .setDetailsElement(document.getElementById('details'))
      .onClick(drawBreadcrumb);
  }
  const chartWidth = () => Math.max(300, document.getElementById('chart').clientWidth);

  // Case-insensitive substring search over frame labels and file names (no regexp: a user's
  // "operator()" must not be a syntax error).
  function searchMatch(d, term) {
    if (!term) return false;
    const t = term.toLowerCase(), f = d.data.frame;
    return d.data.name.toLowerCase().includes(t) ||
      (f >= 0 && !!data.frames.file[f] && data.frames.file[f].toLowerCase().includes(t));
  }
  // The share counts each matched stack once: a match inside a matched frame adds nothing.
  function searchResult(results) {
    const out = d3.select('#search-result');
    if (!state.search) { out.text(''); return; }
    const matched = new Set(results);
    let sum = 0;
    for (const d of results) {
      let a = d.parent;
      while (a && !matched.has(a)) a = a.parent;
      if (!a) sum += d.data.total;
    }
    const v = currentView();
    out.text(`${results.length} ${results.length === 1 ? 'frame matches' : 'frames match'}: ` +
      `${fmtValue(sum, v.bytes)}, ${fmtPct(sum, tree.total)} of the view`);
  }

  function drawBreadcrumb(d) {
    const path = d ? d.ancestors().reverse() : [];
    const nav = d3.select('#breadcrumb');
    nav.selectAll('*').remove();
    if (path.length < 2) return; // not zoomed
    path.forEach((node, i) => {
      if (i > 0) nav.append('span').attr('class', 'sep').text('›');
      const b = nav.append('button').attr('type', 'button').attr('class', 'crumb')
        .text(i === 0 ? 'all (zoom out)' : node.data.name);
      if (i < path.length - 1) b.on('click', () => (i === 0 ? chart.resetZoom() : chart.zoomTo(node)));
      else b.attr('disabled', true);
    });
  }

  // Rebuilds the tree for the current state and redraws; the zoom starts over.
  function render() {
    tree = buildTree();
    const t1 = performance.now();
    const empty = !(tree.total > 0);
    d3.select('#empty').property('hidden', !empty);
    d3.select('#chart').style('display', empty ? 'none' : null);
    drawBreadcrumb(null);
    drawViewText();
    if (!empty) {
      // animating thousands of frames costs more than it shows: big trees switch at once
      chart.transitionDuration(timings.display_nodes > 20000 ? 0 : 250);
      chart.inverted(state.inverted);
      const sel = d3.select('#chart').datum(tree);
      if (sel.select('svg').empty()) sel.call(chart); else chart.update(tree);
    }
    if (!empty && state.search) chart.search(state.search); // reports through searchResult
    else searchResult([]);
    timings.render_ms = performance.now() - t1;
  }

  function drawViewText() {
    const v = currentView(), m = data.meta;
    const threadName = state.thread < 0 ? 'all threads' : threadLabel(data.threads[state.thread]);
    const total = `${fmtValue(tree.total, v.bytes)} ${v.what} (${threadName})`;
    d3.select('#view-note').text(state.moment < 0 ? `${v.note(m)} In this view: ${total}.` :
      `In this view: ${total}.`);
    d3.selectAll('#views button').classed('active', (x) => state.moment < 0 && x.id === state.view);
    const banner = d3.select('#moment-banner').property('hidden', state.moment < 0);
    if (state.moment >= 0) {
      const tl = data.timeline, i = state.moment;
      banner.select('#moment-text').text(`Memory live at ${fmtTime(tl.t_ms[i])} (moment ${i + 1} ` +
        `of ${tl.t_ms.length}): heap ${fmtBytes(tl.heap_bytes[i])} in ${fmtCount(tl.heap_blocks[i])} blocks.`);
      banner.select('#moment-back').text(`back to ${VIEWS.find((x) => x.id === state.view).label}`);
    }
  }
  const threadLabel = (t) => `${t.name || 'thread'} (tid ${t.tid})`;

  // ---- the page around it ----------------------------------------------------------
  function drawHeader() {
    const m = data.meta;
    d3.select('#command').text(m.command || m.executable || '');
    document.title = `memtap: ${m.command || m.executable || ''}`;
    d3.select('#incomplete').property('hidden', !!m.complete);
    const facts = [
      ['pid', m.ppid ? `${m.pid} (parent ${m.ppid})` : `${m.pid}`],
      ['duration', fmtTime(m.duration_ms)],
      ['peak', `${fmtBytes(m.peak_bytes)} in ${fmtCount(m.peak_blocks)} blocks at ${fmtTime(m.peak_time_ms)}`],
      ['leaked', `${fmtBytes(m.leaked_bytes)} in ${fmtCount(m.leaked_blocks)} blocks`],
      ['allocated', `${fmtBytes(m.bytes_allocated)} in ${fmtCount(m.allocations)} calls, ` +
        `${fmtCount(m.frees)} frees`],
      ['temporary', `${fmtCount(m.temporary_allocations)} allocations`],
      ['max RSS', m.max_rss_bytes ? fmtBytes(m.max_rss_bytes) : 'unknown'],
      ['threads', `${data.threads.length}`],
      ['executable', m.executable || '?'],
      ['capture', m.capture || '?'],
    ];
    const dl = d3.select('#facts');
    for (const [k, v] of facts) {
      const div = dl.append('div').attr('class', 'fact').attr('data-fact', k);
      div.append('dt').text(k);
      div.append('dd').text(v);
    }
  }

  function drawControls() {
    d3.select('#views').selectAll('button').data(VIEWS).join('button')
      .attr('type', 'button').attr('data-view', (v) => v.id).text((v) => v.label)
      .on('click', (_, v) => { state.view = v.id; state.moment = -1; drawMoment(); render(); });
    const threads = [{ id: -1, label: 'all threads' }]
      .concat(data.threads.map((t, i) => ({ id: i, label: threadLabel(t) })));
    d3.select('#thread').selectAll('option').data(threads).join('option')
      .attr('value', (t) => t.id).text((t) => t.label);
    d3.select('#thread').on('change', function () { state.thread = +this.value; render(); });
    d3.select('#python-only').property('disabled', !data.meta.python)
      .property('checked', state.pythonOnly)
      .on('change', function () { state.pythonOnly = this.checked; render(); });
    d3.select('#hide-interpreter').property('disabled', !data.meta.python)
      .on('change', function () { state.hideInterpreter = this.checked; render(); });
    d3.select('#inverted').on('change', function () {
      state.inverted = this.checked;
      chart.inverted(state.inverted).update();
    });
    d3.select('#search').on('input', function () {
      state.search = this.value.trim();
      if (tree.total > 0 && state.search) { chart.search(state.search); return; }
      if (tree.total > 0) chart.clear();
      searchResult([]);
    });
    d3.select('#moment-back').on('click', () => { state.moment = -1; drawMoment(); render(); });
    const legend = d3.select('#legend');
    const swatch = (label, color) => {
      const s = legend.append('span').attr('class', 'key');
      s.append('span').attr('class', 'swatch').style('background', color);
      s.append('span').text(label);
    };
    swatch('native', 'hsl(15, 85%, 64%)');
    swatch('Python', 'hsl(210, 65%, 68%)');
    swatch('interpreter (native, inside Python)', 'hsl(270, 18%, 78%)');
    swatch('[other]: merged small stacks', '#d4d4d4');
    swatch('search match', '#e600e6');
    legend.append('span').attr('class', 'key').text(`stacks under ${data.meta.min_percent}% ` +
      `of every view are merged into [other] · memtap ${data.meta.memtap_version || ''}`);
  }

  // ---- the heap over time ----------------------------------------------------------
  const TL = { height: 150, top: 12, right: 16, bottom: 26, left: 76 };
  let tlX, tlMarker;
  function drawTimeline() {
    const tl = data.timeline, n = tl.t_ms.length, el = d3.select('#timeline');
    el.selectAll('*').remove();
    if (n === 0) return;
    const w = Math.max(300, el.node().clientWidth), h = TL.height;
    const hasRss = tl.rss_bytes.some((r) => r !== null);
    const top = d3.max(tl.heap_bytes.concat(hasRss ? tl.rss_bytes : [])) || 1;
    tlX = d3.scaleLinear().domain([tl.t_ms[0], Math.max(tl.t_ms[n - 1], tl.t_ms[0] + 1)])
      .range([TL.left, w - TL.right]);
    const y = d3.scaleLinear().domain([0, top]).nice().range([h - TL.bottom, TL.top]);
    const svg = el.append('svg').attr('width', w).attr('height', h);
    const idx = d3.range(n);
    svg.append('path').attr('class', 'heap-area').attr('d', d3.area()
      .x((i) => tlX(tl.t_ms[i])).y0(y(0)).y1((i) => y(tl.heap_bytes[i])).curve(d3.curveStepAfter)(idx));
    if (hasRss) {
      svg.append('path').attr('class', 'rss-line').attr('d', d3.line()
        .defined((i) => tl.rss_bytes[i] !== null)
        .x((i) => tlX(tl.t_ms[i])).y((i) => y(tl.rss_bytes[i])).curve(d3.curveStepAfter)(idx));
    }
    svg.append('g').attr('transform', `translate(0,${h - TL.bottom})`)
      .call(d3.axisBottom(tlX).ticks(Math.max(2, w / 110)).tickFormat(fmtTime));
    svg.append('g').attr('transform', `translate(${TL.left},0)`)
      .call(d3.axisLeft(y).ticks(4).tickFormat(fmtBytes));
    const p = tl.peak_index, px = tlX(tl.t_ms[p]), py = y(tl.heap_bytes[p]);
    const peak = svg.append('g').attr('class', 'peak-mark');
    peak.append('line').attr('x1', px).attr('x2', px).attr('y1', TL.top).attr('y2', h - TL.bottom);
    peak.append('circle').attr('cx', px).attr('cy', py).attr('r', 4);
    peak.append('text').attr('x', px + 6).attr('y', TL.top + 10)
      .text(`peak ${fmtBytes(tl.heap_bytes[p])}`);
    tlMarker = svg.append('line').attr('class', 'moment-mark')
      .attr('y1', TL.top).attr('y2', h - TL.bottom);
    const brush = d3.brushX().extent([[TL.left, TL.top], [w - TL.right, h - TL.bottom]])
      .on('end', (event) => brushed(event, svg, brush));
    svg.append('g').attr('class', 'brush').call(brush);
    d3.select('#timeline-legend').selectAll('*').remove();
    const lg = d3.select('#timeline-legend');
    lg.append('span').attr('class', 'key heap').text('heap (live bytes)');
    if (hasRss) lg.append('span').attr('class', 'key rss').text('RSS');
    drawMoment();
  }

  // A click (a brush with no extent) takes the nearest moment; a range, its highest heap.
  function brushed(event, svg, brush) {
    if (!event.sourceEvent) return; // our own clearing of the brush below
    const tl = data.timeline, t = tl.t_ms;
    let pick = -1;
    if (!event.selection) {
      const [px] = d3.pointer(event.sourceEvent, svg.node());
      pick = d3.bisector((v) => v).center(t, tlX.invert(px));
    } else {
      const [a, b] = event.selection.map(tlX.invert);
      for (let i = d3.bisectLeft(t, a); i < t.length && t[i] <= b; i++)
        if (pick < 0 || tl.heap_bytes[i] > tl.heap_bytes[pick]) pick = i;
      if (pick < 0) pick = d3.bisector((v) => v).center(t, (a + b) / 2);
      svg.select('.brush').call(brush.move, null);
    }
    state.moment = pick;
    drawMoment();
    render();
  }
  function drawMoment() {
    if (!tlMarker) return;
    const on = state.moment >= 0, x = on ? tlX(data.timeline.t_ms[state.moment]) : 0;
    tlMarker.attr('x1', x).attr('x2', x).style('display', on ? null : 'none');
  }
  // Where moment i is on the screen (client coordinates), for the tests.
  window.memtap.timelineX = (i) => {
    const box = d3.select('#timeline svg').node().getBoundingClientRect();
    return box.left + tlX(data.timeline.t_ms[i]);
  };

  // ---- start -----------------------------------------------------------------------
  function start() {
    try {
      data = loadData();
    } catch (e) {
      d3.select('#view-note').attr('class', 'error').text(`memtap: ${e.message}`);
      return;
    }
    timings.parse_ms = performance.now() - t0;
    // the view and the Python-only switch the page opens with (memtap flamegraph --leaks...)
    if (VIEWS.some((v) => v.id === data.meta.view)) state.view = data.meta.view;
    state.pythonOnly = !!(data.meta.python && data.meta.python_only);
    prepare();
    drawHeader();
    drawControls();
    makeChart();
    drawTimeline();
    render();
    let resizeTimer = 0;
    window.addEventListener('resize', () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => { chart.width(chartWidth()); drawTimeline(); render(); }, 200);
    });
    timings.ready_ms = performance.now() - t0;
    document.body.dataset.ready = '1';
  }
  start();
})();
