// Page data fixtures for the browser tests (schema 1, docs/reports.md): a small hand-written
// capture with known figures, the same with hostile names, and a generated large one.

// Bit numbers of the allocator kinds (data.allocator_kinds).
const MALLOC = 1, CALLOC = 2, REALLOC = 4, MMAP = 1 << 9, PYMEM = 1 << 11, PYOBJECT = 1 << 12;
export const ALLOCATOR_KINDS = ['malloc', 'calloc', 'realloc', 'reallocarray', 'posix_memalign',
  'aligned_alloc', 'memalign', 'valloc', 'pvalloc', 'mmap', 'pymem_raw', 'pymem', 'pyobject'];

// Columns from rows: rows [{a, b}, ...] -> {a: [...], b: [...]}.
function columns(rows, keys) {
  const out = {};
  for (const k of keys) out[k] = rows.map((r) => r[k]);
  return out;
}

// The timeline from the sites' sparse temporal entries: heap = the sum of the live figures.
function timeline(nMoments, stepMs, temporal, nSites) {
  const bytes = new Array(nSites).fill(0), blocks = new Array(nSites).fill(0);
  const byMoment = new Map();
  for (let e = 0; e < temporal.site.length; e++) {
    const m = temporal.moment[e];
    if (!byMoment.has(m)) byMoment.set(m, []);
    byMoment.get(m).push(e);
  }
  const tl = { t_ms: [], heap_bytes: [], heap_blocks: [], rss_bytes: [], peak_index: 0 };
  let heap = 0, count = 0;
  for (let m = 0; m < nMoments; m++) {
    for (const e of byMoment.get(m) || []) {
      const s = temporal.site[e];
      heap += temporal.bytes[e] - bytes[s]; count += temporal.blocks[e] - blocks[s];
      bytes[s] = temporal.bytes[e]; blocks[s] = temporal.blocks[e];
    }
    tl.t_ms.push(m * stepMs);
    tl.heap_bytes.push(heap);
    tl.heap_blocks.push(count);
    tl.rss_bytes.push(m < 3 ? null : 24576 + Math.round(heap * 1.25));
    if (heap > tl.heap_bytes[tl.peak_index]) tl.peak_index = m;
  }
  return tl;
}

// A Python program with a worker thread. Frames, nodes and sites by hand; the figures the
// tests expect follow from these rows (see small.test.mjs).
export function small() {
  const frames = [
    /* 0 */ { name: 'main', file: 'Programs/python.c', line: 15, module: 'python3.11', kind: 0 },
    /* 1 */ { name: 'Py_RunMain', file: 'Modules/main.c', line: 680, module: 'libpython3.11.so', kind: 2 },
    /* 2 */ { name: '_PyEval_EvalFrameDefault', file: 'Python/ceval.c', line: 4190, module: 'libpython3.11.so', kind: 2 },
    /* 3 */ { name: '<module>', file: '/home/u/app.py', line: 1, module: null, kind: 1 },
    /* 4 */ { name: 'load_data', file: '/home/u/app.py', line: 20, module: null, kind: 1 },
    /* 5 */ { name: 'parse', file: '/home/u/app.py', line: 35, module: null, kind: 1 },
    /* 6 */ { name: 'PyList_New', file: 'Objects/listobject.c', line: 160, module: 'libpython3.11.so', kind: 2 },
    /* 7 */ { name: 'scanner_call', file: 'Modules/_json.c', line: 321, module: '_json.cpython-311-x86_64-linux-gnu.so', kind: 0 },
    /* 8 */ { name: 'build_cache', file: '/home/u/app.py', line: 50, module: null, kind: 1 },
    /* 9 */ { name: 'worker_main', file: 'worker.c', line: 5, module: 'libworker.so', kind: 0 },
    /* 10 */ { name: 'compress_block', file: 'worker.c', line: 40, module: 'libworker.so', kind: 0 },
    /* 11 */ { name: 'start_thread', file: null, line: 0, module: 'libc.so.6', kind: 0 },
    /* 12 */ { name: '[other]', file: null, line: 0, module: null, kind: 3 },
  ];
  // [parent, frame]: node 0 is the root
  const nodes = [[-1, -1], [0, 0], [1, 1], [2, 2], [3, 3], [4, 2], [5, 4], [6, 7], [6, 5], [8, 6],
    [4, 8], [0, 11], [11, 9], [12, 10], [0, 12]];
  const S = (node, thread, kinds, peak, leak, total, allocations, temp) => ({
    node, thread, kinds, peak_bytes: peak[0], peak_blocks: peak[1], leaked_bytes: leak[0],
    leaked_blocks: leak[1], total_bytes: total, allocations, temporary_allocations: temp[0],
    temporary_bytes: temp[1] });
  const sites = [
    /* A */ S(7, 0, MALLOC, [4096, 2], [1024, 1], 10000, 10, [2, 200]),
    /* B */ S(8, 0, PYMEM | PYOBJECT, [2048, 16], [0, 0], 8192, 64, [32, 1024]),
    /* C */ S(9, 0, PYOBJECT, [1024, 4], [512, 2], 3072, 12, [0, 0]),
    /* D */ S(10, 0, MALLOC | REALLOC, [8192, 1], [8192, 1], 16384, 2, [0, 0]),
    /* E */ S(12, 1, MMAP, [0, 0], [0, 0], 4096, 1, [1, 4096]),
    /* F */ S(13, 1, MALLOC | CALLOC, [16384, 8], [4096, 1], 32768, 16, [4, 8192]),
    /* G */ S(14, 0, MALLOC, [256, 3], [0, 0], 512, 6, [1, 16]),
  ];
  // [site, moment, bytes, blocks]: each site's live figures from that moment on
  const temporal = [[0, 10, 2048, 1], [0, 50, 4096, 2], [0, 90, 1024, 1],
    [1, 20, 1024, 8], [1, 60, 2048, 16], [1, 95, 0, 0],
    [2, 30, 1024, 4], [2, 100, 512, 2],
    [3, 40, 8192, 1],
    [4, 5, 4096, 1], [4, 6, 0, 0],
    [5, 45, 16384, 8], [5, 70, 4096, 1],
    [6, 55, 256, 3], [6, 65, 0, 0]];
  const t = { site: temporal.map((e) => e[0]), moment: temporal.map((e) => e[1]),
    bytes: temporal.map((e) => e[2]), blocks: temporal.map((e) => e[3]) };
  const tl = timeline(120, 10, t, sites.length);
  return {
    schema: 1,
    meta: { capture: '/tmp/app.memtap', command: 'python3 app.py --input data.json', pid: 4242,
      ppid: 4200, executable: '/usr/bin/python3.11', duration_ms: 1195, complete: true,
      allocations: 111, frees: 106, bytes_allocated: 75024, peak_bytes: 32000, peak_blocks: 34,
      peak_time_ms: 600, leaked_bytes: 13824, leaked_blocks: 5, temporary_allocations: 40,
      max_rss_bytes: Math.max(...tl.rss_bytes.filter((r) => r !== null)), min_percent: 0.1,
      python: true, memtap_version: '0.1.0' },
    allocator_kinds: ALLOCATOR_KINDS,
    threads: [{ id: 0, tid: 4242, name: 'main' }, { id: 1, tid: 4243, name: 'worker-1' }],
    frames: columns(frames, ['name', 'file', 'line', 'module', 'kind']),
    nodes: { parent: nodes.map((n) => n[0]), frame: nodes.map((n) => n[1]) },
    sites: columns(sites, ['node', 'thread', 'kinds', 'peak_bytes', 'peak_blocks', 'leaked_bytes',
      'leaked_blocks', 'total_bytes', 'allocations', 'temporary_allocations', 'temporary_bytes']),
    timeline: tl,
    temporal: t,
  };
}

// The small capture with names that are markup: they must show as text, never run.
export const HOSTILE = {
  func: '<script>alert(1)</script>',
  file: '</script><script>alert(2)</script>.c',
  thread: '<img src=x onerror=alert(3)></script>',
  command: 'prog --x=\'</script><!--<script>alert(4)</script>\' && echo "<b>bold</b>"',
};
export function hostile() {
  const d = small();
  d.frames.name[10] = HOSTILE.func;   // compress_block
  d.frames.file[10] = HOSTILE.file;
  d.threads[1].name = HOSTILE.thread;
  d.meta.command = HOSTILE.command;
  d.meta.capture = '/tmp/<!--x-->.memtap';
  return d;
}

// 65,536 sites of depth 30 on 4 threads: a call tree that branches every other level (about
// 260,000 nodes), 2 temporal entries a site, 1,000 moments. Deterministic.
export function large(nSites = 65536, depth = 30) {
  const nFrames = 5000, frames = { name: [], file: [], line: [], module: [], kind: [] };
  for (let f = 0; f < nFrames; f++) {
    const py = f % 3 === 1;
    frames.name.push(py ? `py_function_${f}` : `native_function_${f}_with_a_longer_name`);
    frames.file.push(py ? `/srv/app/module_${f % 97}.py` : `src/file_${f % 211}.c`);
    frames.line.push(py ? 10 + (f % 500) : f % 900);
    frames.module.push(py ? null : `libmod${f % 13}.so`);
    frames.kind.push(py ? 1 : f % 7 === 0 ? 2 : 0);
  }
  const parent = [-1], frame = [-1], index = new Map(); // "parent/frame" -> node
  const node = (p, f) => {
    const key = p * nFrames + f;
    let n = index.get(key);
    if (n === undefined) { n = parent.length; index.set(key, n); parent.push(p); frame.push(f); }
    return n;
  };
  const bits = Math.log2(nSites);
  const sites = { node: [], thread: [], kinds: [], peak_bytes: [], peak_blocks: [], leaked_bytes: [],
    leaked_blocks: [], total_bytes: [], allocations: [], temporary_allocations: [], temporary_bytes: [] };
  const temporal = { site: [], moment: [], bytes: [], blocks: [] };
  for (let s = 0; s < nSites; s++) {
    let n = 0;
    for (let level = 0; level < depth; level++) {
      // level L uses the site number's first min(bits, L/2 + 1) bits: a binary tree spread
      // over the levels, so paths share long prefixes as real programs' do
      const used = Math.min(bits, (level >> 1) + 1), prefix = s >>> (bits - used);
      n = node(n, (prefix * 7919 + level * 104729) % nFrames);
    }
    const size = 16 + (s * 2654435761 % 4096);
    const peak = s % 5 === 0 ? 0 : size, leak = s % 11 === 0 ? size : 0;
    sites.node.push(n); sites.thread.push(s % 4); sites.kinds.push(1 << (s % 13));
    sites.peak_bytes.push(peak); sites.peak_blocks.push(peak ? 1 : 0);
    sites.leaked_bytes.push(leak); sites.leaked_blocks.push(leak ? 1 : 0);
    sites.total_bytes.push(size * 3); sites.allocations.push(3);
    sites.temporary_allocations.push(s % 3 === 0 ? 1 : 0);
    sites.temporary_bytes.push(s % 3 === 0 ? size : 0);
    // its peak figure live from a moment before the peak (moment 499, when the last site
    // starts) to one after it, then its leaked figure to the end
    const from = s % 500, to = 500 + (s % 499);
    temporal.site.push(s, s); temporal.moment.push(from, to);
    temporal.bytes.push(peak, leak); temporal.blocks.push(peak ? 1 : 0, leak ? 1 : 0);
  }
  const tl = timeline(1000, 5, temporal, nSites);
  const sum = (a) => a.reduce((x, y) => x + y, 0);
  return {
    schema: 1,
    meta: { capture: '/tmp/large.memtap', command: './large-program', pid: 1, ppid: 0,
      executable: '/usr/bin/large-program', duration_ms: 4995, complete: true,
      allocations: sum(sites.allocations), frees: sum(sites.allocations) - sum(sites.leaked_blocks),
      bytes_allocated: sum(sites.total_bytes), peak_bytes: tl.heap_bytes[tl.peak_index],
      peak_blocks: tl.heap_blocks[tl.peak_index], peak_time_ms: tl.t_ms[tl.peak_index],
      leaked_bytes: sum(sites.leaked_bytes), leaked_blocks: sum(sites.leaked_blocks),
      temporary_allocations: sum(sites.temporary_allocations),
      max_rss_bytes: Math.max(...tl.rss_bytes.filter((r) => r !== null)), min_percent: 0,
      python: true, memtap_version: '0.1.0' },
    allocator_kinds: ALLOCATOR_KINDS,
    threads: [0, 1, 2, 3].map((i) => ({ id: i, tid: 100 + i, name: i ? `worker-${i}` : 'main' })),
    frames,
    nodes: { parent, frame },
    sites,
    timeline: tl,
    temporal,
  };
}
