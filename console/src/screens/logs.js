// Logs: one pod, or every pod of the workload merged (lines prefixed `[pod/container]`), with
// follow, container, time range, tail and a server-side grep. Pause keeps receiving (nothing is
// lost) and resume shows what came meanwhile. A dropped connection resumes where it stopped
// (Last-Event-ID); a session the runner ended while following starts again from the last
// line's timestamp, skipping the lines already shown.

import { Component } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import * as api from '../api.js';
import { openEvents } from '../sse.js';
import { ErrorBox, LiveStatus, download, html } from '../ui.js';

const SHOWN = 10000; // lines in the page at most
const KEPT = 100000; // lines kept for pause and download
const CHUNK = 250;

const LINE = /^(?:\[([^\]]+)\] )?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))(?: (.*))?$/s;

function parseLine(raw) {
  const m = LINE.exec(raw);
  if (!m) {
    const labelled = /^\[([^\]]+)\] (.*)$/s.exec(raw);
    return labelled ? { label: labelled[1], ts: '', text: labelled[2] } : { label: '', ts: '', text: raw };
  }
  return { label: m[1] || '', ts: m[2], text: m[3] || '' };
}

/** RFC 3339 with nanoseconds compares as text only at equal length: compare as numbers. */
function tsKey(ts) {
  const m = /^(.*?)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) return [0, 0];
  return [Date.parse(`${m[1]}${m[3]}`), Number((m[2] || '').padEnd(9, '0'))];
}
const tsBefore = (a, b) => {
  const [x, y] = [tsKey(a), tsKey(b)];
  return x[0] < y[0] || (x[0] === y[0] && x[1] < y[1]);
};

const SINCE = [
  ['', 'Tail only'],
  ['5m', 'Last 5 minutes'],
  ['15m', 'Last 15 minutes'],
  ['1h', 'Last hour'],
  ['6h', 'Last 6 hours'],
  ['24h', 'Last 24 hours'],
  ['custom', 'Custom range…'],
];

const toRfc3339 = (local) => (local ? new Date(local).toISOString() : '');

/** A stable colour per [pod/container] (FNV-1a), so merged streams are told apart. */
function labelHue(label) {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 16777619) >>> 0;
  return (h ^ (h >>> 16)) % 8;
}

/** Lines render in chunks; a full chunk never changes, so only the newest one re-renders. */
class Chunk extends Component {
  shouldComponentUpdate(n) {
    const p = this.props;
    return n.lines.length !== p.lines.length || n.lines[0].n !== p.lines[0].n || n.timestamps !== p.timestamps || n.mark !== p.mark;
  }
  render({ lines, timestamps, mark }) {
    return html`<div class="log-chunk">${lines.map(
      (l) => html`<div class="log-line">${timestamps && l.ts ? html`<span class="log-ts">${l.ts.replace('T', ' ').replace(/(\.\d{3})\d*/, '$1')} </span>` : ''}${l.label
        ? html`<span class=${`log-label hue-${labelHue(l.label)}`}>[${l.label}] </span>`
        : ''}${mark ? marked(l.text, mark) : l.text}</div>`,
    )}</div>`;
  }
}

function marked(text, re) {
  const out = [];
  let last = 0;
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (!m[0]) {
      re.lastIndex++;
      continue;
    }
    out.push(text.slice(last, m.index), html`<mark>${m[0]}</mark>`);
    last = m.index + m[0].length;
  }
  out.push(text.slice(last));
  return out;
}

/** The stream for one set of options; answers the store, its status and controls. */
function useLogStream(target, opts, enabled) {
  const store = useRef(null);
  const [, setVersion] = useState(0);
  const [status, setStatus] = useState({ state: 'connecting', message: '' });
  const key = JSON.stringify([api.targetBody(target), opts, enabled]);

  if (!store.current || store.current.key !== key) {
    store.current = { key, lines: [], seq: 0, dropped: 0, pausedAt: null, lastTs: '', atLastTs: new Set() };
  }

  useEffect(() => {
    const st = store.current;
    if (!enabled) {
      setStatus({ state: 'connecting', message: 'Waiting for a pod…' });
      return undefined;
    }
    let stream = null;
    let session = '';
    let stopped = false;
    let frame = 0;
    let timer = 0;
    let retries = 0;
    let resuming = false;
    const refresh = () => {
      if (!frame) {
        frame = requestAnimationFrame(() => {
          frame = 0;
          setVersion((v) => v + 1);
        });
      }
    };

    const add = (raw) => {
      const line = parseLine(raw);
      if (resuming && line.ts && st.lastTs) {
        // The resumed session starts at the last timestamp seen: skip what is already here.
        if (tsBefore(line.ts, st.lastTs)) return;
        if (line.ts === st.lastTs && st.atLastTs.has(line.label + line.text)) return;
      }
      if (line.ts) {
        if (line.ts !== st.lastTs) {
          st.lastTs = line.ts;
          st.atLastTs = new Set();
        }
        st.atLastTs.add(line.label + line.text);
      }
      line.n = st.seq++;
      st.lines.push(line);
      if (st.lines.length > KEPT) {
        const cut = st.lines.length - KEPT;
        st.lines.splice(0, cut);
        st.dropped += cut;
        if (st.pausedAt !== null) st.pausedAt = Math.max(0, st.pausedAt - cut);
      }
      refresh();
    };

    const restart = (why) => {
      if (stopped) return;
      api.cancelSession(session);
      setStatus({ state: 'restarting', message: `${why}; resuming…` });
      timer = setTimeout(() => start(true), Math.min(15000, 1000 * 2 ** retries++));
    };

    async function start(resume) {
      resuming = resume && !!st.lastTs;
      const body = { follow: opts.follow, timestamps: true };
      if (opts.pod) body.pod = opts.pod;
      if (opts.container) body.container = opts.container;
      if (opts.grep) body.grep = opts.grep;
      if (opts.untilTime) body.until_time = opts.untilTime;
      if (opts.previous) body.previous = true;
      if (resuming) body.since_time = st.lastTs;
      else {
        if (opts.tail !== '') body.tail = Number(opts.tail);
        if (opts.since) body.since = opts.since;
        if (opts.sinceTime) body.since_time = opts.sinceTime;
      }
      try {
        const r = await api.kube('logs', target, body);
        if (stopped) return api.cancelSession(r.session);
        session = r.session;
        stream = openEvents(r.events, {
          open: () => {
            retries = 0;
            setStatus({ state: 'live', message: resuming ? 'Resumed after an interruption.' : '' });
          },
          // One event may carry several lines (the runner batches lines that arrive together).
          message: (raw) => raw.split('\n').forEach((l) => add(l)),
          reconnecting: () => setStatus({ state: 'reconnecting', message: 'Connection lost; reconnecting (no line will be lost)…' }),
          end: (why) => {
            if (opts.follow && why !== 'eof') restart(`the stream stopped (${why})`);
            else setStatus({ state: 'ended', message: why === 'eof' ? (opts.follow ? 'The log stream ended (the container stopped or the pod is gone).' : 'All matching lines loaded.') : `The stream ended: ${why}` });
          },
          failed: (why) => (opts.follow ? restart(why) : setStatus({ state: 'failed', message: '', error: why })),
        });
      } catch (e) {
        if (stopped) return;
        if (resume && e.status >= 500) restart(e.message);
        else setStatus({ state: 'failed', message: '', error: e });
      }
    }

    setStatus({ state: 'connecting', message: '' });
    start(false);
    return () => {
      stopped = true;
      clearTimeout(timer);
      cancelAnimationFrame(frame);
      stream?.close();
      api.cancelSession(session);
    };
  }, [key]);

  const st = store.current;
  return {
    st,
    status,
    pause: () => {
      st.pausedAt = st.lines.length;
      setVersion((v) => v + 1);
    },
    resume: () => {
      st.pausedAt = null;
      setVersion((v) => v + 1);
    },
    clear: () => {
      st.dropped += st.lines.length;
      st.lines = [];
      if (st.pausedAt !== null) st.pausedAt = 0;
      setVersion((v) => v + 1);
    },
  };
}

export function LogsPanel({ target, pods, pod: initialPod, container: initialContainer, merged }) {
  const podNames = useMemo(() => pods.map((p) => p.metadata.name).sort(), [pods]);
  const [draft, setDraft] = useState({
    pod: initialPod || '',
    container: initialContainer || '',
    since: '',
    sinceLocal: '',
    untilLocal: '',
    tail: '200',
    grep: '',
    follow: true,
    previous: false,
  });
  const [applied, setApplied] = useState(draft);
  const [timestamps, setTimestamps] = useState(false);
  const [wrap, setWrap] = useState(true);
  const viewport = useRef(null);
  const [stick, setStick] = useState(true);

  // Without merging (admin mode, or a pod-less resource) a pod must be chosen.
  const needPod = !merged && !applied.pod;
  useEffect(() => {
    if (needPod && podNames.length) {
      const next = { ...draft, pod: podNames[0] };
      setDraft(next);
      setApplied(next);
    }
  }, [needPod, podNames.length]);

  const opts = useMemo(
    () => ({
      pod: applied.pod,
      container: applied.container,
      follow: applied.follow && !applied.untilLocal,
      tail: applied.tail.trim(),
      since: applied.since === 'custom' ? '' : applied.since,
      sinceTime: applied.since === 'custom' ? toRfc3339(applied.sinceLocal) : '',
      untilTime: applied.since === 'custom' ? toRfc3339(applied.untilLocal) : '',
      grep: applied.grep,
      previous: applied.previous,
    }),
    [applied],
  );
  const ready = !needPod;
  const { st, status, pause, resume, clear } = useLogStream(target, opts, ready);

  const containers = useMemo(() => {
    const from = applied.pod ? pods.filter((p) => p.metadata.name === applied.pod) : pods;
    return [...new Set(from.flatMap((p) => (p.spec?.containers || []).map((c) => c.name)))].sort();
  }, [pods, applied.pod]);

  // The previous instance exists only for a container that restarted (else the API answers 400).
  const restarted = useMemo(() => {
    const from = applied.pod ? pods.filter((p) => p.metadata.name === applied.pod) : pods;
    return from.some((p) =>
      (p.status?.containerStatuses || []).some(
        (c) => (!applied.container || c.name === applied.container) && (c.restartCount > 0 || c.lastState?.terminated),
      ),
    );
  }, [pods, applied.pod, applied.container]);
  useEffect(() => {
    if (!restarted && applied.previous) {
      const next = { ...draft, previous: false };
      setDraft(next);
      setApplied(next);
    }
  }, [restarted]);

  const mark = useMemo(() => {
    if (!applied.grep) return null;
    try {
      return new RegExp(applied.grep, 'g');
    } catch {
      return null;
    }
  }, [applied.grep]);

  const paused = st.pausedAt !== null;
  const end = paused ? st.pausedAt : st.lines.length;
  const shown = st.lines.slice(Math.max(0, end - SHOWN), end);
  const hidden = st.dropped + Math.max(0, end - SHOWN);
  const waiting = paused ? st.lines.length - st.pausedAt : 0;
  // Chunks by line number, so that their bounds stay put as old lines leave the window.
  const chunks = [];
  for (const l of shown) {
    const last = chunks[chunks.length - 1];
    if (last && Math.floor(last[0].n / CHUNK) === Math.floor(l.n / CHUNK)) last.push(l);
    else chunks.push([l]);
  }

  useEffect(() => {
    const v = viewport.current;
    if (v && stick) v.scrollTop = v.scrollHeight;
  });
  const onScroll = (e) => {
    const v = e.currentTarget;
    const atEnd = v.scrollHeight - v.scrollTop - v.clientHeight < 40;
    if (atEnd !== stick) setStick(atEnd);
  };
  const jump = () => {
    setStick(true);
    viewport.current.scrollTop = viewport.current.scrollHeight;
  };

  const set = (k) => (e) => {
    const value = e.currentTarget.type === 'checkbox' ? e.currentTarget.checked : e.currentTarget.value;
    const next = { ...draft, [k]: value };
    if (k === 'pod') next.container = '';
    setDraft(next);
    // Choices apply at once; typed values (tail, grep, times) on Apply or Enter.
    if (['pod', 'container', 'since', 'follow', 'previous'].includes(k) && !(k === 'since' && value === 'custom')) setApplied(next);
  };
  const [grepError, setGrepError] = useState('');
  const apply = (e) => {
    e.preventDefault();
    // The runner's regex syntax is Rust's; what JavaScript refuses, it refuses too.
    try {
      new RegExp(draft.grep);
    } catch (err) {
      setGrepError(`The search is not a valid regular expression: ${err.message.replace(/^Invalid regular expression: /, '')}. Nothing was applied.`);
      return;
    }
    setGrepError('');
    setApplied({ ...draft });
  };
  const save = () => {
    const text = st.lines.map((l) => `${l.label ? `[${l.label}] ` : ''}${l.ts ? `${l.ts} ` : ''}${l.text}`).join('\n');
    download(`${applied.pod || 'logs'}.log`, `${text}\n`, 'text/plain');
  };
  const pState = paused ? 'paused' : status.state;

  return html`<div class="logs">
    <form class="logs-controls" onSubmit=${apply} aria-label="Log options">
      <label class="field-inline"><span>Pod</span>
        <select class="select" value=${draft.pod} onChange=${set('pod')}>
          ${merged && html`<option value="">All pods (merged)</option>`}
          ${podNames.map((n) => html`<option value=${n}>${n}</option>`)}
          ${draft.pod && !podNames.includes(draft.pod) && html`<option value=${draft.pod}>${draft.pod} (gone)</option>`}
        </select>
      </label>
      <label class="field-inline"><span>Container</span>
        <select class="select" value=${draft.container} onChange=${set('container')}>
          <option value="">All containers</option>
          ${containers.map((n) => html`<option value=${n}>${n}</option>`)}
        </select>
      </label>
      <label class="field-inline"><span>Range</span>
        <select class="select" value=${draft.since} onChange=${set('since')}>${SINCE.map(([v, l]) => html`<option value=${v}>${l}</option>`)}</select>
      </label>
      ${draft.since === 'custom' &&
      html`<label class="field-inline"><span>From</span><input class="input" type="datetime-local" step="1" value=${draft.sinceLocal} onInput=${set('sinceLocal')} /></label>
        <label class="field-inline"><span>To</span><input class="input" type="datetime-local" step="1" value=${draft.untilLocal} onInput=${set('untilLocal')} /></label>`}
      <label class="field-inline"><span>Tail</span>
        <input class="input input-num" type="number" min="0" placeholder="all" value=${draft.tail} onInput=${set('tail')} aria-label="Tail lines" />
      </label>
      <label class="field-inline grow"><span>Search</span>
        <input class="input mono" type="search" placeholder="regex, e.g. ERROR|timeout" value=${draft.grep} onInput=${set('grep')}
          aria-invalid=${grepError ? 'true' : undefined} aria-errormessage=${grepError ? 'grep-error' : undefined}
          aria-label="Search (regular expression, applied by the runner)" />
      </label>
      <button type="submit" class="btn btn-small">Apply</button>
      <label class="check"><input type="checkbox" checked=${draft.follow} onChange=${set('follow')} /> Follow</label>
      ${restarted &&
      html`<label class="check" title="The logs of the container's instance before its last restart"><input type="checkbox" checked=${draft.previous} onChange=${set('previous')} /> Previous instance</label>`}
    </form>
    ${grepError && html`<p id="grep-error" class="field-error" role="alert">${grepError}</p>`}
    ${status.state === 'failed' && status.error && html`<${ErrorBox} title="Logs" error=${status.error} />`}
    <div class="logs-bar">
      <${LiveStatus} status=${pState} />
      <span class="muted small" role="status">${paused
        ? `${waiting} new line${waiting === 1 ? '' : 's'} kept while paused`
        : status.message}${hidden ? ` · ${hidden} older line${hidden === 1 ? '' : 's'} not shown` : ''}</span>
      <span class="spacer"></span>
      <label class="check"><input type="checkbox" checked=${timestamps} onChange=${(e) => setTimestamps(e.currentTarget.checked)} /> Timestamps</label>
      <label class="check"><input type="checkbox" checked=${wrap} onChange=${(e) => setWrap(e.currentTarget.checked)} /> Wrap</label>
      ${paused
        ? html`<button type="button" class="btn btn-small btn-primary" onClick=${resume}>Resume</button>`
        : html`<button type="button" class="btn btn-small" onClick=${pause}>Pause</button>`}
      <button type="button" class="btn btn-small" onClick=${clear}>Clear</button>
      <button type="button" class="btn btn-small" onClick=${save}>Download</button>
    </div>
    <div class="log-view-wrap">
      <div ref=${viewport} class=${`log-view${wrap ? ' log-wrap' : ''}`} tabindex="0" role="log" aria-label="Log lines" aria-live="off" onScroll=${onScroll}>
        ${chunks.map((c) => html`<${Chunk} key=${Math.floor(c[0].n / CHUNK)} lines=${c} timestamps=${timestamps} mark=${mark} />`)}
        ${!shown.length && html`<p class="log-empty">${status.state === 'connecting' || needPod ? 'Waiting for log lines…' : 'No log lines.'}</p>`}
      </div>
      ${!stick && shown.length > 0 && html`<button type="button" class="btn btn-small jump" onClick=${jump}>Jump to latest ↓</button>`}
    </div>
  </div>`;
}
