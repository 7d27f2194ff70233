// Jobs and triggers: what will run (next fire, the schedule in English), its state, and the
// operator's actions (pause, resume, fire now). A job's details name the provisioned component
// it came from (GET /v1/status/jobs/...).
import { seg } from './api.js';
import { badge, fill, h, relative, when } from './dom.js';

const PAGE = 50;
const TRIGGER_STATES = ['', 'WAITING', 'ACQUIRED', 'EXECUTING', 'PAUSED', 'BLOCKED', 'PAUSED_BLOCKED', 'ERROR', 'COMPLETE'];

function schedule(s) {
  if (s.cron) return h('span', { title: `${s.cron} (${s.timezone})` }, s.explanation, ' ', h('code', {}, s.cron));
  const every = s.simple.interval_ms >= 1000 ? `${s.simple.interval_ms / 1000} s` : `${s.simple.interval_ms} ms`;
  if (s.simple.repeat_count === 0) return 'once';
  return s.simple.repeat_count === null ? `every ${every}` : `every ${every}, ${s.simple.repeat_count} more times`;
}

export async function render(root, { api, can, notify, ready }) {
  const operate = can('operate');
  const stateFilter = h('select', { 'aria-label': 'trigger state', id: 'trigger-state' },
    TRIGGER_STATES.map((s) => h('option', { value: s }, s || 'any state')));
  const triggerBody = h('tbody', { id: 'triggers' });
  const moreTriggers = h('button', { type: 'button', hidden: true }, 'More triggers');
  const jobBody = h('tbody', { id: 'jobs' });
  const moreJobs = h('button', { type: 'button', hidden: true }, 'More jobs');
  const detail = h('div', { id: 'job-detail', class: 'card', hidden: true });
  fill(root,
    h('div', { class: 'card' },
      h('div', { class: 'toolbar' }, h('h2', {}, 'Triggers'), h('span', { class: 'spacer' }), stateFilter),
      h('table', {}, h('thead', {}, h('tr', {}, ['Trigger', 'Job', 'Schedule', 'State', 'Next fire', 'Previous fire',
        operate ? '' : null].filter((x) => x !== null).map((t) => h('th', {}, t)))), triggerBody),
      moreTriggers),
    h('div', { class: 'card' },
      h('h2', {}, 'Jobs'),
      h('table', {}, h('thead', {}, h('tr', {}, ['Job', 'Kind', 'Last run', 'Description', '']
        .map((t) => h('th', {}, t)))), jobBody),
      moreJobs),
    detail);

  let triggerCursor = null;
  let jobCursor = null;

  function triggerRow(t) {
    const key = `${t.group}.${t.name}`;
    const paused = t.state === 'PAUSED' || t.state === 'PAUSED_BLOCKED';
    const cells = [
      h('td', {}, key),
      h('td', {}, `${t.job.group}.${t.job.name}`),
      h('td', {}, schedule(t.schedule)),
      h('td', { class: 'state' }, badge(t.state), t.error ? h('div', { class: 'error' }, t.error) : null),
      h('td', {}, when(t.next_fire_time), ' ', h('span', { class: 'muted' }, relative(t.next_fire_time))),
      h('td', {}, when(t.previous_fire_time)),
    ];
    if (operate && t.state === 'COMPLETE') {
      cells.push(h('td', {})); // a spent trigger: nothing to pause or resume
    } else if (operate) {
      const action = paused || t.state === 'ERROR' ? 'resume' : 'pause';
      const button = h('button', { type: 'button', dataset: { action } }, action === 'pause' ? 'Pause' : 'Resume');
      button.addEventListener('click', async () => {
        button.disabled = true;
        try {
          await api('POST', `/v1/scheduler/triggers/${seg(t.group, t.name)}/${action}`);
          const fresh = await api('GET', `/v1/scheduler/triggers/${seg(t.group, t.name)}`);
          row.replaceWith(triggerRow(fresh));
        } catch (e) {
          notify(`${action} ${key}: ${e.message}`);
          button.disabled = false;
        }
      });
      cells.push(h('td', {}, button));
    }
    const row = h('tr', { dataset: { trigger: key, state: t.state } }, cells);
    return row;
  }

  async function loadTriggers(append) {
    const q = new URLSearchParams({ limit: PAGE });
    if (stateFilter.value) q.set('state', stateFilter.value);
    if (append && triggerCursor) q.set('cursor', triggerCursor);
    const page = await api('GET', `/v1/scheduler/triggers?${q}`);
    if (!append) fill(triggerBody);
    triggerBody.append(...page.items.map(triggerRow));
    if (!append && page.items.length === 0) triggerBody.append(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No triggers.')));
    triggerCursor = page.next_cursor;
    moreTriggers.hidden = !triggerCursor;
  }

  async function showJob(job) {
    const key = `${job.group}.${job.name}`;
    detail.hidden = false;
    fill(detail, h('h2', {}, `Job ${key}`), h('p', { class: 'muted' }, 'Loading…'));
    try {
      const s = await api('GET', `/v1/status/jobs/${seg(job.group, job.name)}?limit=5`);
      fill(detail,
        h('h2', {}, `Job ${key}`),
        h('dl', { class: 'facts' },
          h('dt', {}, 'Component'), h('dd', { id: 'job-component' }, s.component_id || 'not provisioned (created through the API)'),
          h('dt', {}, 'Kind'), h('dd', {}, s.kind),
          h('dt', {}, 'State'), h('dd', {}, badge(s.state)),
          h('dt', {}, 'Triggers'), h('dd', {}, s.triggers.map((t) =>
            h('div', {}, `${t.trigger.group}.${t.trigger.name}: `, schedule(t.schedule), ', next ', when(t.next_fire_time))))),
        h('h2', {}, 'Latest runs'),
        h('table', {}, h('tbody', {}, s.runs.items.map((r) => h('tr', {},
          h('td', {}, h('a', { href: `#/runs/${r.id}` }, `#${r.id}`)), h('td', {}, badge(r.state)),
          h('td', {}, when(r.start_time)), h('td', {}, r.application_id || ''),
          h('td', { class: 'error' }, r.failure_reason || '')))))
      );
    } catch (e) {
      fill(detail, h('h2', {}, `Job ${key}`), h('p', { class: 'error' }, e.message));
    }
  }

  function jobRow(j) {
    const key = `${j.group}.${j.name}`;
    const details = h('button', { type: 'button', dataset: { action: 'details' } }, 'Details');
    details.addEventListener('click', () => showJob(j));
    const actions = [details];
    if (operate) {
      const fire = h('button', { type: 'button', dataset: { action: 'fire' } }, 'Fire now');
      fire.addEventListener('click', async () => {
        fire.disabled = true;
        try {
          const fired = await api('POST', `/v1/scheduler/jobs/${seg(j.group, j.name)}/fire`, {});
          fire.textContent = 'Fired';
          fire.title = `one-shot trigger ${fired.trigger.group}.${fired.trigger.name}`;
          setTimeout(() => { fire.textContent = 'Fire now'; fire.disabled = false; }, 1500);
        } catch (e) {
          notify(`fire ${key}: ${e.message}`);
          fire.disabled = false;
        }
      });
      actions.unshift(fire);
    }
    return h('tr', { dataset: { job: key } },
      h('td', {}, key), h('td', {}, j.kind), h('td', {}, j.last_run_state ? badge(j.last_run_state) : h('span', { class: 'muted' }, 'never ran')),
      h('td', {}, j.description || ''), h('td', {}, actions));
  }

  async function loadJobs(append) {
    const q = new URLSearchParams({ limit: PAGE });
    if (append && jobCursor) q.set('cursor', jobCursor);
    const page = await api('GET', `/v1/scheduler/jobs?${q}`);
    if (!append) fill(jobBody);
    jobBody.append(...page.items.map(jobRow));
    jobCursor = page.next_cursor;
    moreJobs.hidden = !jobCursor;
  }

  const guarded = (f) => async () => { try { await f(); } catch (e) { notify(e.message); } };
  stateFilter.addEventListener('change', guarded(() => loadTriggers(false)));
  moreTriggers.addEventListener('click', guarded(() => loadTriggers(true)));
  moreJobs.addEventListener('click', guarded(() => loadJobs(true)));
  await Promise.all([loadTriggers(false), loadJobs(false)]);
  ready();
  return () => {};
}
