// Exec: an interactive shell in a pod's container, in xterm.js. Output arrives as SSE events
// (`stdout`/`stderr`, base64); keystrokes and resizes go to the session's input endpoint one
// request at a time, in strictly increasing `seq` order (keystrokes typed meanwhile are batched
// into the next request). The end of the session is stated in the terminal and beside it.
// Sessions run in the terminal dock (terminal-dock.js), so they outlive the screen that opened
// them; the Terminal tab and a pod's Shell view open them there.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import * as api from '../api.js';
import { useApp } from '../context.js';
import { useTerminals } from '../terminals.js';
import { podStatus } from '../kube.js';
import { b64decode, b64encodeBytes, describeEnd, exitCodeOf, openEvents } from '../sse.js';
import { createTerminal } from '../term.js';
import { Action, ErrorBox, copyText, html } from '../ui.js';

const encoder = new TextEncoder();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MAX_BATCH = 64 * 1024;

/** Exec input, in order: one request in flight, the rest queued and merged. */
class InputQueue {
  /** `seq`: the last seq already used (0 for a new session); `onSent(seq)` after each one lands. */
  constructor(url, onError, { seq = 0, onSent } = {}) {
    this.url = url;
    this.onError = onError;
    this.onSent = onSent;
    this.seq = seq;
    this.items = [];
    this.busy = false;
    this.closed = false;
  }
  stdin(bytes) {
    const last = this.items[this.items.length - 1];
    if (last?.stdin && last.stdin.length + bytes.length <= MAX_BATCH) {
      const merged = new Uint8Array(last.stdin.length + bytes.length);
      merged.set(last.stdin);
      merged.set(bytes, last.stdin.length);
      last.stdin = merged;
    } else this.items.push({ stdin: bytes });
    this.pump();
  }
  resize(cols, rows) {
    const last = this.items[this.items.length - 1];
    if (last?.resize) last.resize = { cols, rows };
    else this.items.push({ resize: { cols, rows } });
    this.pump();
  }
  /**
   * After a reload of the page the last seq sent may or may not have landed (the runner applies
   * seqs in order, each once): with the queue one seq behind, a first resize reuses it (a
   * duplicate, or filling the gap) and a second is the next.
   */
  resync(cols, rows) {
    this.items.push({ resize: { cols, rows } }, { resize: { cols, rows } });
    this.pump();
  }
  close() {
    this.closed = true;
    this.items = [];
  }
  async pump() {
    if (this.busy) return;
    this.busy = true;
    while (this.items.length && !this.closed) {
      const item = this.items.shift();
      const body = { seq: ++this.seq };
      if (item.stdin) body.stdin = b64encodeBytes(item.stdin);
      else body.resize = item.resize;
      for (let attempt = 0; !this.closed; attempt++) {
        try {
          await api.post(this.url, body);
          this.onSent?.(body.seq);
          break;
        } catch (e) {
          // The same seq again is applied once: retrying is safe.
          const transient = e.status === 0 || e.status === 429 || e.status === 503 || /retry/i.test(e.message);
          if (transient && attempt < 7) {
            await sleep(100 * 2 ** attempt);
            continue;
          }
          if (!this.closed) this.onError(e);
          this.close();
        }
      }
    }
    this.busy = false;
  }
}

/**
 * One exec session in xterm.js; `onPhase(starting|connected|ended|failed)` follows it.
 * A new session reports itself with `onAttach({session, events, input, namespace, pod,
 * container})` and each input that landed with `onSent(session, seq)`; given `attach` (a
 * session a reload of the page left), it attaches to that one instead of starting another.
 */
export function ExecSession({ target, pod, container, command, attach, onAttach, onSent, onPhase }) {
  const box = useRef(null);
  const [state, setState] = useState({ phase: 'starting', info: null, end: '', error: null, note: '' });
  const t = useRef(null);

  useEffect(() => {
    const ui = createTerminal(box.current);
    t.current = ui;
    const { term } = ui;
    let stream = null;
    let input = null;
    let session = '';
    let ended = false;
    let disposed = false;
    const subs = [];

    const finish = (end) => {
      if (ended) return;
      ended = true;
      input?.close();
      term.options.disableStdin = true;
      term.options.cursorBlink = false;
      term.write(`\r\n\x1b[1;36m── Session ended: ${describeEnd(end)} ──\x1b[0m\r\n`);
      setState((s) => ({ ...s, phase: 'ended', end }));
    };

    const start = async () => {
      const body = { command, stdin: true, tty: true, size: { cols: term.cols, rows: term.rows } };
      if (pod) body.pod = pod;
      if (container) body.container = container;
      const r = await api.kube('exec', target, body);
      if (!disposed) onAttach?.({ session: r.session, events: r.events, input: r.input, namespace: r.namespace, pod: r.pod, container: r.container });
      return r;
    };

    (async () => {
      const what = `${command.join(' ')} in ${pod}${container ? `/${container}` : ''}`;
      term.write(`\x1b[2m${attach ? `Attaching again to ${what} (the page was reloaded)` : `Starting ${what}`}…\x1b[0m\r\n`);
      try {
        const r = attach || (await start());
        if (disposed) return attach || api.cancelSession(r.session);
        session = r.session;
        const from = attach ? Math.max((attach.seq || 0) - 1, 0) : 0;
        input = new InputQueue(r.input, (e) => setState((s) => ({ ...s, error: e })), { seq: from, onSent: (seq) => onSent?.(session, seq) });
        if (attach) input.resync(term.cols, term.rows);
        setState((s) => ({ ...s, phase: 'connected', info: r }));
        stream = openEvents(r.events, {
          open: () => setState((s) => (s.phase === 'ended' ? s : { ...s, note: '' })),
          stdout: (b64) => term.write(b64decode(b64)),
          stderr: (b64) => term.write(b64decode(b64)),
          end: finish,
          reconnecting: () => setState((s) => ({ ...s, note: 'Connection lost; reconnecting (output resumes where it stopped)…' })),
          failed: (why) => finish(`error: ${why}`),
        });
        subs.push(term.onData((d) => !ended && input.stdin(encoder.encode(d))));
        subs.push(term.onBinary((d) => !ended && input.stdin(Uint8Array.from(d, (c) => c.charCodeAt(0) & 0xff))));
        subs.push(term.onResize(({ cols, rows }) => !ended && input.resize(cols, rows)));
        term.focus();
      } catch (e) {
        if (disposed) return;
        term.write(`\r\n\x1b[31m${e.message}\x1b[0m\r\n`);
        ended = true;
        setState((s) => ({ ...s, phase: 'failed', error: e }));
      }
    })();

    return () => {
      disposed = true;
      for (const s of subs) s.dispose();
      input?.close();
      stream?.close();
      if (!ended) api.cancelSession(session);
      ui.dispose();
    };
  }, []);

  const { phase, info, end, error, note } = state;
  useEffect(() => onPhase?.(phase), [phase]);
  const code = exitCodeOf(end);
  return html`<div class="exec">
    <div class="exec-bar">
      <span class=${`pill pill-${phase === 'connected' ? 'ok' : phase === 'starting' ? 'warning' : 'error'}`} role="status">
        ${phase === 'connected' ? 'Connected' : phase === 'starting' ? 'Starting…' : phase === 'ended' ? 'Ended' : 'Failed'}
      </span>
      <span class="muted small mono">${info ? `${info.namespace}/${info.pod} · ${info.container} · ${command.join(' ')}` : `${pod} · ${command.join(' ')}`}</span>
      <span class="spacer"></span>
      <button type="button" class="btn btn-small" title="Copy the selection (Ctrl+Shift+C)"
        onClick=${() => t.current?.term.hasSelection() && copyText(t.current.term.getSelection())}>Copy</button>
      <button type="button" class="btn btn-small" disabled=${phase !== 'connected'} title="Paste (Ctrl+Shift+V)"
        onClick=${() => navigator.clipboard?.readText().then((x) => t.current.term.paste(x), () => {})}>Paste</button>
      <button type="button" class="btn btn-small" onClick=${() => t.current?.term.clear()}>Clear</button>
    </div>
    ${note && html`<p class="muted small" role="status">${note}</p>`}
    <div class="terminal-box" ref=${box} aria-label="Terminal"></div>
    ${phase === 'ended' &&
    html`<div class=${`session-end ${code === 0 ? 'session-ok' : 'session-bad'}`} role="status" data-exit-code=${code ?? ''}>
      Session ended: ${describeEnd(end)}
    </div>`}
    <${ErrorBox} error=${error} />
  </div>`;
}

export function TerminalPanel({ target, pods, pod: wantedPod, container: wantedContainer }) {
  const { access } = useApp();
  const terminals = useTerminals();
  const reason = access.need('operator', target);
  const running = useMemo(() => pods.filter((p) => podStatus(p) === 'Running').map((p) => p.metadata.name).sort(), [pods]);
  const [pod, setPod] = useState(wantedPod || '');
  const [container, setContainer] = useState(wantedContainer || '');
  const [command, setCommand] = useState('sh');
  const chosen = pod || running[0] || '';
  const containers = (pods.find((p) => p.metadata.name === chosen)?.spec?.containers || []).map((c) => c.name);
  const key = JSON.stringify(api.targetBody(target));
  const mine = terminals.list.filter((t) => t.key === key);

  const start = (e, { reuse = false } = {}) => {
    e?.preventDefault();
    const argv = command.trim().split(/\s+/).filter(Boolean);
    if (!argv.length || !chosen) return;
    const c = container || containers[0] || '';
    terminals.open({ key, target, pod: chosen, container: c, command: argv, label: `${chosen}${c ? `/${c}` : ''}` }, { reuse });
  };
  // Opened from a pod's "Shell" button: connect at once (or show the shell already open there).
  useEffect(() => {
    if (wantedPod && !reason && chosen) start(undefined, { reuse: true });
  }, [chosen]);

  return html`<div class="stack">
    <form class="logs-controls" onSubmit=${start} aria-label="Shell options">
      <label class="field-inline"><span>Pod</span>
        <select class="select" value=${chosen} onChange=${(e) => (setPod(e.currentTarget.value), setContainer(''))}>
          ${!chosen && html`<option value="">No running pod</option>`}
          ${running.map((n) => html`<option value=${n}>${n}</option>`)}
          ${chosen && !running.includes(chosen) && html`<option value=${chosen}>${chosen} (not running)</option>`}
        </select>
      </label>
      <label class="field-inline"><span>Container</span>
        <select class="select" value=${container || containers[0] || ''} onChange=${(e) => setContainer(e.currentTarget.value)}>
          ${containers.map((n) => html`<option value=${n}>${n}</option>`)}
        </select>
      </label>
      <label class="field-inline"><span>Command</span>
        <input class="input mono input-cmd" value=${command} onInput=${(e) => setCommand(e.currentTarget.value)} list="shells" aria-label="Command" />
        <datalist id="shells"><option value="sh" /><option value="bash" /><option value="/bin/sh" /></datalist>
      </label>
      <${Action} type="submit" class="btn btn-primary btn-small" reason=${reason || (!chosen ? 'no running pod to connect to' : '')}>
        ${mine.length ? 'New session' : 'Connect'}
      <//>
    </form>
    ${reason && html`<p class="muted">Opening a shell ${reason}.</p>`}
    ${mine.length > 0 &&
    html`<div class="card dock-note" role="status">
      <p>Shells run in the terminal dock at the bottom of the window, and keep running while you move around the console until you close them.</p>
      <ul class="plain-list">${mine.map(
        (t) => html`<li><button type="button" class="link-button mono" onClick=${() => terminals.show(t.id)}>${t.label}</button>
          <span class="muted small"> ${t.command.join(' ')} · ${t.phase}</span></li>`,
      )}</ul>
    </div>`}
  </div>`;
}
