// `scripts/bench dashboard`: time from navigation to each dashboard page being interactive
// (its first table drawn and its buttons enabled: the page's `consort:ready:PAGE` mark) with
// CONSORT_BENCH_RUNS runs in the store, beside the floor: the same API calls the page makes,
// fetched from the same browser tab without the page. Seeds through the API.
//
// Environment: CONSORT_URL, CONSORT_ADMIN_TOKEN, CONSORT_PLAYWRIGHT, CONSORT_PROFILE,
// CONSORT_BENCH_RUNS (10000), CONSORT_BENCH_LOADS (20 per page).
import { createRequire } from 'node:module';
import { launch, waitFor } from './browser.mjs';

const URL_ = process.env.CONSORT_URL;
const TOKEN = process.env.CONSORT_ADMIN_TOKEN;
const RUNS = Number(process.env.CONSORT_BENCH_RUNS || 10000);
const LOADS = Number(process.env.CONSORT_BENCH_LOADS || 20);
const { chromium } = createRequire(import.meta.url)(process.env.CONSORT_PLAYWRIGHT);

async function api(method, p, body) {
  const r = await fetch(URL_ + p, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await r.json();
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(json)}`);
  return json;
}

// ---- seed: 10 jobs firing fast until RUNS runs exist, 60 cron jobs to fill the tables ----
const FAST_JOBS = 10;
for (let j = 0; j < FAST_JOBS; j++) {
  await api('PUT', `/v1/scheduler/jobs/bench/fast-${j}`, {
    kind: 'noop',
    triggers: [{ group: 'bench', name: `fast-${j}`, simple: { repeat_count: RUNS / FAST_JOBS - 1, interval_ms: 5 } }],
  });
}
for (let j = 0; j < 60; j++) {
  await api('PUT', `/v1/scheduler/jobs/cron/job-${String(j).padStart(2, '0')}`, {
    kind: 'noop',
    triggers: [{ group: 'cron', name: `job-${String(j).padStart(2, '0')}`, cron: `0 ${j % 60} ${j % 24} ? * MON-FRI`, timezone: 'Europe/Rome' }],
  });
}
const counted = async () => (await api('GET', '/v1/dashboard/run-history?hours=2')).hours
  .reduce((n, b) => n + b.succeeded + b.failed + b.abandoned + b.executing, 0);
await waitFor(async () => (await counted()) >= RUNS, `${RUNS} runs`, 600e3);
const runs = await counted();

// ---- measure ---------------------------------------------------------------------------
const FLOOR = {
  jobs: ['/v1/auth/whoami', ['/v1/scheduler/triggers?limit=50', '/v1/scheduler/jobs?limit=50']],
  runs: ['/v1/auth/whoami', ['/v1/scheduler/runs?limit=50']],
  cluster: ['/v1/auth/whoami', ['/v1/scheduler/instances?limit=100', '/v1/dashboard/run-history?hours=24']],
};
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const context = await launch(chromium, process.env.CONSORT_PROFILE);
await context.addInitScript((t) => sessionStorage.setItem('consort.token', t), TOKEN);
const results = {};
try {
  for (const name of Object.keys(FLOOR)) {
    const ready = [];
    const floor = [];
    for (let i = 0; i < LOADS + 2; i++) {
      const page = await context.newPage();
      await page.goto(`${URL_}/ui/#/${name}`);
      await page.waitForSelector(`body[data-ready="${name}"]`);
      const ms = await page.evaluate((n) => performance.getEntriesByName(`consort:ready:${n}`)[0].startTime, name);
      // The floor: the page's own calls, from the same tab (whoami, then the page's data at once).
      const raw = await page.evaluate(async ([first, rest, t]) => {
        const headers = { Authorization: `Bearer ${t}` };
        const start = performance.now();
        await (await fetch(first, { headers })).json();
        await Promise.all(rest.map(async (p) => (await fetch(p, { headers })).json()));
        return performance.now() - start;
      }, [FLOOR[name][0], FLOOR[name][1], TOKEN]);
      await page.close();
      if (i >= 2) { ready.push(ms); floor.push(raw); } // the first two warm the server's caches
    }
    results[name] = { p50: pct(ready, 0.5), p90: pct(ready, 0.9), max: Math.max(...ready), floor: pct(floor, 0.5) };
  }
} finally {
  await context.close();
}
for (const [name, r] of Object.entries(results)) {
  console.log(`dashboard: build=${process.env.CONSORT_BENCH_BUILD || 'release'} page=${name} runs=${runs} loads=${LOADS} interactive_p50_ms=${r.p50.toFixed(0)} ` +
    `p90_ms=${r.p90.toFixed(0)} max_ms=${r.max.toFixed(0)} api_floor_p50_ms=${r.floor.toFixed(1)} ` +
    `ratio=${(r.p50 / r.floor).toFixed(1)} target_ms=1000 ${r.p90 < 1000 ? 'met' : 'MISSED'}`);
}
