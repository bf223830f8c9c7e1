// Simulation behind docs/decisions/0041: bisect strategies against a periodic sweeper (timeout T,
// period P, random phase) and a clean timer. Run: node docs/decisions/0041-sweeper-simulation.mjs
function windowOf(points) {
  // [g, expired]
  let maxS = -Infinity,
    minE = Infinity,
    s = 0,
    e = 0;
  for (const [v, x] of points) {
    if (x) {
      e++;
      minE = Math.min(minE, v);
    } else {
      s++;
      maxS = Math.max(maxS, v);
    }
  }
  const sweeping = s > 0 && e > 0 && maxS >= minE;
  const luck = sweeping ? maxS - minE : 0;
  let lower = null,
    upper = null;
  for (const [v, x] of points) {
    if (x) {
      if (v > maxS && (upper === null || v < upper)) upper = v;
    } else {
      if (v < minE && v <= minE - luck && (lower === null || v > lower)) lower = v;
    }
  }
  if (sweeping && maxS / 2 < minE) lower = maxS / 2;
  return { lower, upper, overlapping: sweeping };
}
let CONFIRM = false;
let STAG = (w) => w.upper;
function run(strategy, T, P, budget = 16, parallel = 3, intervals = [1, 2, 4, 7]) {
  const phi = Math.random() * P;
  const dies = (e, g) => {
    // tick in (e+T, e+g)
    const k = Math.ceil((e + T - phi) / P);
    let t = phi + k * P;
    if (t <= e + T) t += P;
    return t < e + g;
  };
  let time = 0;
  const pts = [];
  const jitter = () => 0.01 + Math.random() * 0.02;
  for (const g of intervals) {
    const e = time + jitter();
    pts.push([g, dies(e, g)]);
  }
  time += Math.max(...intervals) + 0.1;
  let spent = 0;
  while (true) {
    const w = windowOf(pts);
    if (w.upper === null || w.overlapping) break;
    const lower = w.lower ?? 0;
    if (w.upper - lower <= Math.max(1, 0.1 * lower)) break;
    const count = Math.min(parallel, budget - spent);
    if (count <= 0) break;
    let gaps;
    if (strategy === 'even') {
      const step = (w.upper - lower) / (count + 1);
      gaps = [...Array(count)].map((_, i) => lower + step * (i + 1));
    }
    if (strategy === 'retest') {
      const step = (w.upper - lower) / count;
      gaps = [lower, ...[...Array(count - 1)].map((_, i) => lower + step * (i + 1))];
      if (lower === 0) gaps[0] = step / 2;
    }
    if (strategy === 'mid') {
      gaps = [...Array(count)].fill((lower + w.upper) / 2);
    }
    spent += count;
    const stagger = count > 1 ? STAG(w) / count : 0;
    gaps.forEach((g, i) => {
      const e = time + i * stagger + jitter();
      pts.push([g, dies(e, g)]);
    });
    time += (count - 1) * stagger + Math.max(...gaps) + 0.1;
  }
  if (strategy === 'mid' && CONFIRM) {
    const w0 = windowOf(pts);
    const count = Math.min(parallel, budget - spent);
    if (w0.upper !== null && !w0.overlapping && count > 0) {
      const stagger = count > 1 ? STAG(w0) / count : 0;
      for (let i = 0; i < count; i++) {
        const e = time + i * stagger + jitter();
        pts.push([w0.upper, dies(e, w0.upper)]);
      }
      time += (count - 1) * stagger + w0.upper + 0.1;
      spent += count;
    }
  }
  const w = windowOf(pts);
  return {
    ok: w.lower !== null ? w.lower <= T && (w.upper ?? Infinity) > T : (w.upper ?? Infinity) > T,
    ov: w.overlapping,
    time,
    w,
  };
}

for (const st of ['upper', 'width', 'half']) {
  STAG =
    st === 'upper' ? (w) => w.upper : st === 'width' ? (w) => w.upper - (w.lower ?? 0) : (w) => w.upper / 2;
  console.log(st);
  for (const [T, P, iv] of [
    [3, 3, [1, 2, 4, 7]],
    [3, 3, [1, 2, 5]],
    [3, 1.5, [1, 2, 4, 7]],
    [2, 2, [1, 2, 5]],
    [10, 5, [5, 10, 20, 30]],
    [3, 3, [1, 3, 5, 8]],
    [3, 0.001, [1, 2, 5]],
  ])
    for (const c of [false, true]) {
      CONFIRM = c;
      let ok = 0,
        ov = 0,
        tm = 0;
      const N = 4000;
      for (let i = 0; i < N; i++) {
        const r = run('mid', T, P, 16, 3, iv);
        ok += r.ok;
        ov += r.ov;
        tm += r.time;
      }
      console.log(
        T,
        P,
        iv.join(','),
        'confirm',
        c,
        'ok',
        ok / N,
        'overlap',
        ov / N,
        'time',
        (tm / N).toFixed(1),
      );
    }
}
// The rejected strategy: three gaps per round, staggered over the upper edge, no confirmation.
{
  STAG = (w) => w.upper;
  CONFIRM = false;
  let ok = 0;
  let ov = 0;
  const N = 4000;
  for (let i = 0; i < N; i++) {
    const r = run('even', 3, 3);
    ok += r.ok;
    ov += r.ov;
  }
  console.log('even (3 gaps per round) 3 3 1,2,4,7 ok', ok / N, 'overlap', ov / N);
}
