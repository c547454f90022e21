// The terminal dock: every shell opened in the console lives here, at the bottom of the window,
// and keeps running while the user moves between screens (as Lens keeps its terminals), until
// it is closed; closing a live one asks first. Loaded with the first shell (it brings xterm).

import { useEffect, useState } from 'preact/hooks';
import { Dialog, html } from '../ui.js';
import { ExecSession } from './terminal.js';

const PHASE_TONE = { starting: 'warning', connected: 'ok', ended: 'muted', failed: 'error' };

/**
 * @param terms     [{id, target, pod, container, command, label, phase, attach}] (attach: the session,
 *                  once started, or left by a reload)
 * @param active    the shown session's id
 * @param expanded  whether the dock is open (else only its bar shows)
 */
export function TerminalDock({ terms, active, setActive, expanded, setExpanded, close, onPhase, onAttach, onSent }) {
  const [confirm, setConfirm] = useState(null);
  const shown = terms.find((t) => t.id === active) || terms[terms.length - 1];
  // The session asked about may be gone meanwhile (closed from elsewhere).
  useEffect(() => {
    if (!terms.length) setConfirm(null);
  }, [terms.length]);
  const ask = (t) => (t.phase === 'connected' || t.phase === 'starting' ? setConfirm(t) : close(t.id));
  return html`<section class=${`dock${expanded ? '' : ' dock-collapsed'}`} aria-label="Terminals">
    <div class="dock-bar">
      <div class="dock-tabs" role="tablist" aria-label="Open terminals">
        ${terms.map(
          (t) => html`<div class=${`dock-tab${t.id === shown?.id ? ' dock-tab-active' : ''}`} key=${t.id}>
            <button type="button" role="tab" class="dock-tab-name" aria-selected=${t.id === shown?.id} title=${t.label}
              onClick=${() => {
                setActive(t.id);
                setExpanded(true);
              }}>
              <span class=${`dot dot-${PHASE_TONE[t.phase] || 'warning'}`} aria-hidden="true"></span><span class="mono">${t.label}</span>
              <span class="sr-only">, ${t.phase}</span>
            </button>
            <button type="button" class="btn btn-ghost btn-small dock-close" aria-label=${`Close the terminal ${t.label}`} onClick=${() => ask(t)}>✕</button>
          </div>`,
        )}
      </div>
      <button type="button" class="btn btn-ghost btn-small" aria-expanded=${expanded} onClick=${() => setExpanded(!expanded)}>
        ${expanded ? 'Minimize' : `Terminals (${terms.length})`}
      </button>
    </div>
    <div class="dock-body">
      ${terms.map(
        (t) => html`<div key=${t.id} class="dock-pane" hidden=${!expanded || t.id !== shown?.id}>
          <${ExecSession} target=${t.target} pod=${t.pod} container=${t.container} command=${t.command}
            attach=${t.attach} onAttach=${(a) => onAttach(t.id, a)} onSent=${onSent} onPhase=${(phase) => onPhase(t.id, phase)} />
        </div>`,
      )}
    </div>
    ${confirm &&
    html`<${Dialog} title=${`Close the shell in ${confirm.label}?`} onClose=${() => setConfirm(null)}
      footer=${html`<button type="button" class="btn" onClick=${() => setConfirm(null)}>Keep it</button>
        <button type="button" class="btn btn-danger" onClick=${() => {
          close(confirm.id);
          setConfirm(null);
        }}>Close the shell</button>`}>
      <p>The session is still running: closing it ends <span class="mono">${confirm.command.join(' ')}</span> in
        <span class="mono">${confirm.label}</span>, and anything it was doing.</p>
    <//>`}
  </section>`;
}
