// Runs: live state (polled, no reload), duration, the Spark application id with a link to
// Spark's UI where the backend has one, the driver log's tail, and kill for executing runs.
import { badge, duration, fill, h, when } from './dom.js';

const PAGE = 50;
const POLL_MS = 2000;
const LOG_BYTES = 16384;
const RUN_STATES = ['', 'EXECUTING', 'SUCCEEDED', 'FAILED', 'ABANDONED'];

function liveDuration(r, now) {
  if (r.duration_ms !== null && r.duration_ms !== undefined) return duration(r.duration_ms);
  if (r.state === 'EXECUTING') return `${duration(Math.max(0, now - new Date(r.fired_time).getTime()))} so far`;
  return '—';
}

export async function render(root, { api, can, notify, ready }) {
  const operate = can('operate');
  const stateFilter = h('select', { 'aria-label': 'run state', id: 'run-state' },
    RUN_STATES.map((s) => h('option', { value: s }, s || 'any state')));
  const jobFilter = h('input', { id: 'run-job', placeholder: 'job (GROUP.NAME)', size: 24 });
  const body = h('tbody', { id: 'runs' });
  const more = h('button', { type: 'button', hidden: true }, 'Older runs');
  const updated = h('span', { class: 'muted', id: 'runs-updated' });
  const detail = h('div', { id: 'run-detail', class: 'card', hidden: true });
  fill(root,
    h('div', { class: 'card' },
      h('div', { class: 'toolbar' }, h('h2', {}, 'Runs'), h('span', { class: 'spacer' }), updated, jobFilter, stateFilter),
      h('table', {}, h('thead', {}, h('tr', {}, ['Run', 'Job', 'Trigger', 'State', 'Fired', 'Duration', 'Spark application',
        'Instance'].map((t) => h('th', {}, t)))), body),
      more),
    detail);

  let cursor = null;
  let paged = false;
  let selected = Number((location.hash.split('/')[2] || '').trim()) || null;
  let timer = null;
  let stopped = false;

  function row(r, now) {
    const tr = h('tr', { class: 'clickable' + (r.id === selected ? ' selected' : ''), dataset: { run: r.id, state: r.state } },
      h('td', {}, `#${r.id}`), h('td', {}, `${r.job.group}.${r.job.name}`), h('td', {}, `${r.trigger.group}.${r.trigger.name}`),
      h('td', { class: 'state' }, badge(r.state)), h('td', {}, when(r.fired_time)), h('td', {}, liveDuration(r, now)),
      h('td', {}, r.application_id || ''), h('td', {}, r.instance));
    tr.addEventListener('click', () => { selected = r.id; history.replaceState(null, '', `#/runs/${r.id}`); refresh(); });
    return tr;
  }

  async function loadList(append) {
    const q = new URLSearchParams({ limit: PAGE });
    if (stateFilter.value) q.set('state', stateFilter.value);
    if (jobFilter.value.trim()) q.set('job', jobFilter.value.trim());
    if (append && cursor) q.set('cursor', cursor);
    const page = await api('GET', `/v1/scheduler/runs?${q}`);
    const now = Date.now();
    if (!append) fill(body);
    body.append(...page.items.map((r) => row(r, now)));
    if (!append && page.items.length === 0) body.append(h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No runs.')));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
  }

  async function loadDetail() {
    if (!selected) { detail.hidden = true; return; }
    const r = await api('GET', `/v1/scheduler/runs/${selected}`);
    let log = null;
    let logNote = '';
    try {
      log = (await api('GET', `/v1/scheduler/runs/${selected}/log?max_bytes=${LOG_BYTES}`)).log;
    } catch (e) {
      logNote = e.status === 409 ? 'This run keeps no log (its kind has none, or the log is gone).' : e.message;
    }
    const actions = [];
    if (operate && r.state === 'EXECUTING') {
      const kill = h('button', { type: 'button', class: 'danger', dataset: { action: 'kill' } }, 'Kill');
      kill.addEventListener('click', async () => {
        if (!confirm(`Kill run #${r.id}? Its Spark application is stopped; the run ends FAILED.`)) return;
        kill.disabled = true;
        try {
          await api('POST', `/v1/scheduler/runs/${r.id}/kill`);
          kill.textContent = 'Kill requested';
        } catch (e) {
          notify(`kill #${r.id}: ${e.message}`);
          kill.disabled = false;
        }
      });
      actions.push(kill);
    }
    detail.hidden = false;
    fill(detail,
      h('div', { class: 'toolbar' }, h('h2', {}, `Run #${r.id}`), badge(r.state), h('span', { class: 'spacer' }), actions),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Job'), h('dd', {}, `${r.job.group}.${r.job.name}`),
        h('dt', {}, 'Scheduled'), h('dd', {}, when(r.scheduled_time)),
        h('dt', {}, 'Fired'), h('dd', {}, when(r.fired_time)),
        h('dt', {}, 'Ended'), h('dd', {}, when(r.ended_time)),
        h('dt', {}, 'Duration'), h('dd', { id: 'run-duration' }, liveDuration(r, Date.now())),
        h('dt', {}, 'Spark application'), h('dd', { id: 'run-application' }, r.application_id || '—'),
        h('dt', {}, 'Spark UI'), h('dd', {}, r.spark_ui_url
          ? h('a', { id: 'run-spark-ui', href: r.spark_ui_url, target: '_blank', rel: 'noopener noreferrer' }, r.spark_ui_url)
          : h('span', { class: 'muted' }, 'none (the backend has no UI for it now)')),
        h('dt', {}, 'Log location'), h('dd', {}, r.log_location || '—'),
        h('dt', {}, 'Error'), h('dd', { class: 'error', id: 'run-error' }, r.error || ''),
        h('dt', {}, 'Exit code'), h('dd', {}, r.exit_code ?? '—')),
      h('h2', {}, 'Log (tail)'),
      log === null ? h('p', { class: 'muted', id: 'run-log-note' }, logNote) : h('pre', { class: 'log', id: 'run-log' }, log));
  }

  async function refresh() {
    try {
      if (!paged) await loadList(false);
      await loadDetail();
    } catch (e) {
      notify(e.message);
    }
  }

  function poll() {
    timer = setTimeout(async () => {
      if (stopped) return;
      if (!document.hidden) await refresh();
      if (!stopped) poll();
    }, POLL_MS);
  }

  stateFilter.addEventListener('change', () => { paged = false; refresh(); });
  jobFilter.addEventListener('change', () => { paged = false; refresh(); });
  more.addEventListener('click', async () => { paged = true; try { await loadList(true); } catch (e) { notify(e.message); } });
  await loadList(false);
  ready();
  await loadDetail().catch((e) => notify(e.message));
  poll();
  return () => { stopped = true; clearTimeout(timer); };
}
