// The cluster: the scheduler instances sharing the store and their last check-in, this
// instance's counters, and the run-history chart (GET /v1/dashboard/run-history).
import { historyChart } from './chart.js';
import { duration, fill, h, relative, when } from './dom.js';

const POLL_MS = 5000;

export async function render(root, { api, notify, ready }) {
  const body = h('tbody', { id: 'instances' });
  const counters = h('p', { class: 'muted', id: 'counters' });
  const range = h('select', { id: 'history-hours', 'aria-label': 'hours' },
    [[24, 'last 24 hours'], [72, 'last 3 days'], [168, 'last week']].map(([v, t]) => h('option', { value: v }, t)));
  const chart = h('div', { id: 'history' });
  const summary = h('p', { class: 'muted', id: 'history-summary' });
  fill(root,
    h('div', { class: 'card' },
      h('h2', {}, 'Instances'),
      h('table', {}, h('thead', {}, h('tr', {}, ['Instance', 'Last check-in', 'Check-in interval', 'Health']
        .map((t) => h('th', {}, t)))), body),
      counters),
    h('div', { class: 'card' },
      h('div', { class: 'toolbar' }, h('h2', {}, 'Run history'), h('span', { class: 'spacer' }), range),
      h('div', { class: 'legend' }, ['succeeded', 'failed', 'abandoned', 'executing', 'lateness']
        .map((o) => h('span', {}, h('i', { class: o }), o === 'lateness' ? 'mean lateness' : o))),
      chart, summary));

  async function loadInstances() {
    const page = await api('GET', '/v1/scheduler/instances?limit=100');
    const now = Date.now();
    fill(body, page.items.map((i) => {
      const age = now - new Date(i.last_checkin).getTime();
      // An instance is failed over once it misses check-ins for a while; two intervals is a warning.
      const late = age > 2 * i.checkin_interval_ms;
      return h('tr', { dataset: { instance: i.id } },
        h('td', {}, i.id + (i.id === page.this_instance ? ' (this one)' : '')),
        h('td', {}, when(i.last_checkin), ' ', h('span', { class: 'muted' }, relative(i.last_checkin, now))),
        h('td', {}, duration(i.checkin_interval_ms)),
        h('td', {}, h('span', { class: `badge ${late ? 'state-error' : 'state-normal'}` }, late ? 'late' : 'checking in')));
    }));
    counters.textContent = `${page.this_instance}: ${page.fired_here} runs fired here, ${page.cycles} cycles ` +
      `(${page.failed_cycles} failed), ${page.recoveries} recoveries`;
  }

  async function loadHistory() {
    const history = await api('GET', `/v1/dashboard/run-history?hours=${range.value}`);
    fill(chart, historyChart(history.hours));
    const sum = (k) => history.hours.reduce((n, b) => n + b[k], 0);
    summary.textContent = `${sum('succeeded')} succeeded, ${sum('failed')} failed, ${sum('abandoned')} abandoned, ` +
      `${sum('executing')} executing since ${when(history.from)}`;
  }

  let timer = null;
  let stopped = false;
  range.addEventListener('change', () => loadHistory().catch((e) => notify(e.message)));
  await Promise.all([loadInstances(), loadHistory()]);
  ready();
  const poll = () => {
    timer = setTimeout(async () => {
      if (stopped) return;
      if (!document.hidden) await Promise.all([loadInstances(), loadHistory()]).catch((e) => notify(e.message));
      if (!stopped) poll();
    }, POLL_MS);
  };
  poll();
  return () => { stopped = true; clearTimeout(timer); };
}
