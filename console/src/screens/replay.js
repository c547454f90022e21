// Replays a recorded exec session in a terminal, at its own pace (or faster, or with long
// pauses shortened), with play/pause and seeking. Frames are [ms since start, "i"|"o"|"e", base64];
// output frames are played (a terminal echoes the input it received).

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import * as api from '../api.js';
import { useApp } from '../context.js';
import { dateTime } from '../format.js';
import { Link } from '../router.js';
import { b64decode, describeEnd } from '../sse.js';
import { createTerminal } from '../term.js';
import { ErrorBox, Loading, Notice, PageHeader, html, useAsync } from '../ui.js';

const IDLE_CAP = 1000;

function timeline(frames, skipIdle) {
  const out = [];
  let shift = 0;
  let prev = 0;
  for (const [ms, kind, data] of frames) {
    if (skipIdle && ms - prev > IDLE_CAP) shift += ms - prev - IDLE_CAP;
    prev = ms;
    if (kind !== 'i') out.push({ at: ms - shift, bytes: b64decode(data) });
  }
  return out;
}

const secs = (ms) => `${(ms / 1000).toFixed(1)}s`;

function Player({ session }) {
  const box = useRef(null);
  const term = useRef(null);
  const [speed, setSpeed] = useState(1);
  const [skipIdle, setSkipIdle] = useState(true);
  const [playing, setPlaying] = useState(true);
  const [pos, setPos] = useState(0);
  const frames = useMemo(() => timeline(session.frames || [], skipIdle), [session, skipIdle]);
  const total = frames.length ? frames[frames.length - 1].at : 0;
  const state = useRef({ next: 0, pos: 0 });

  useEffect(() => {
    const ui = createTerminal(box.current, { readOnly: true });
    term.current = ui.term;
    return () => ui.dispose();
  }, []);

  /** Jumps to `to` ms: redraws everything up to there at once. */
  const seek = (to) => {
    const t = term.current;
    t.reset();
    let i = 0;
    while (i < frames.length && frames[i].at <= to) t.write(frames[i++].bytes);
    state.current = { next: i, pos: to };
    setPos(to);
  };

  useEffect(() => seek(0), [frames]);

  useEffect(() => {
    if (!playing) return undefined;
    let raf = 0;
    const startWall = performance.now();
    const startPos = state.current.pos;
    const tick = () => {
      const now = startPos + (performance.now() - startWall) * speed;
      const s = state.current;
      while (s.next < frames.length && frames[s.next].at <= now) term.current.write(frames[s.next++].bytes);
      s.pos = Math.min(now, total);
      setPos(s.pos);
      if (s.next < frames.length) raf = requestAnimationFrame(tick);
      else {
        term.current.write(`\r\n\x1b[1;36m── Session ended: ${describeEnd(session.end)} ──\x1b[0m\r\n`);
        setPlaying(false);
      }
    };
    raf = requestAnimationFrame(tick);
    return () => cancelAnimationFrame(raf);
  }, [playing, speed, frames]);

  const done = state.current.next >= frames.length && !playing;
  const toggle = () => {
    if (done) seek(0);
    setPlaying(!playing || done);
  };

  return html`<div class="stack">
    <div class="player-bar">
      <button type="button" class="btn btn-small btn-primary" onClick=${toggle}>${playing ? 'Pause' : done ? 'Replay' : 'Play'}</button>
      <input type="range" class="seek" min="0" max=${Math.max(1, Math.round(total))} value=${Math.round(pos)} aria-label="Position"
        onInput=${(e) => seek(Number(e.currentTarget.value))} />
      <span class="mono small" aria-live="off">${secs(pos)} / ${secs(total)}</span>
      <label class="field-inline"><span>Speed</span>
        <select class="select" value=${speed} onChange=${(e) => setSpeed(Number(e.currentTarget.value))}>
          ${[0.5, 1, 2, 4, 8].map((s) => html`<option value=${s}>${s}×</option>`)}
        </select>
      </label>
      <label class="check"><input type="checkbox" checked=${skipIdle} onChange=${(e) => setSkipIdle(e.currentTarget.checked)} /> Shorten pauses</label>
    </div>
    <div class="terminal-box terminal-replay" ref=${box} aria-label="Recorded terminal"></div>
    ${!frames.length && html`<p class="muted">This session recorded no output.</p>`}
  </div>`;
}

export function ReplayPage({ params }) {
  const { org, access } = useApp();
  const reason = access.need('admin');
  const s = useAsync(() => (reason ? null : api.get(api.orgPath(org, `sessions/${api.enc(params.id)}`))), [org, params.id]);
  const d = s.data;
  return html`<div class="page page-wide">
    <nav class="crumbs" aria-label="Breadcrumb"><${Link} href="/audit?view=sessions">Exec sessions<//> / <span class="mono">${params.id}</span></nav>
    <${PageHeader} title="Session replay" />
    ${reason && html`<${Notice} kind="warn">Replaying sessions ${reason}.<//>`}
    <${ErrorBox} error=${s.error} onRetry=${s.reload} />
    ${!reason && !d && !s.error && html`<${Loading} />`}
    ${d &&
    html`<dl class="facts">
        <div><dt>Who</dt><dd>${d.principal}</dd></div>
        <div class="facts-wide"><dt>Where</dt><dd class="mono small">${d.target} · ${d.namespace}/${d.pod} · ${d.container}</dd></div>
        <div><dt>Command</dt><dd class="mono">${(d.command || []).join(' ')}</dd></div>
        <div><dt>Started</dt><dd>${dateTime(d.started_at)}</dd></div>
        <div><dt>Ended</dt><dd>${d.ended_at ? `${dateTime(d.ended_at)} · ${describeEnd(d.end)}` : 'still running'}</dd></div>
      </dl>
      ${d.truncated && html`<${Notice} kind="warn">The recording was capped: the end of the session is not in it.<//>`}
      <${Player} session=${d} />`}
  </div>`;
}
