// YAML shown and edited with highlighting: a <textarea> over a highlighted <pre>, scrolled
// together, so that editing keeps the browser's own caret, selection, undo and paste.

import { useRef } from 'preact/hooks';
import { html } from './ui.js';
import { highlight } from './yaml-highlight.js';

export function YamlView({ text, label }) {
  return html`<pre class="yaml" tabindex="0" aria-label=${label}><code>${highlight(text)}</code></pre>`;
}

export function YamlEditor({ value, onInput, label, invalidLine }) {
  const layer = useRef(null);
  const escaped = useRef(false);
  const sync = (e) => {
    layer.current.scrollTop = e.currentTarget.scrollTop;
    layer.current.scrollLeft = e.currentTarget.scrollLeft;
  };
  // Tab indents (two spaces); Escape then Tab leaves the editor, as in other code editors.
  const onKeyDown = (e) => {
    if (e.key === 'Escape') {
      escaped.current = true;
      return;
    }
    if (e.key === 'Tab' && !escaped.current && !e.shiftKey) {
      e.preventDefault();
      const ta = e.currentTarget;
      const { selectionStart: a, selectionEnd: b } = ta;
      const next = `${ta.value.slice(0, a)}  ${ta.value.slice(b)}`;
      onInput(next);
      requestAnimationFrame(() => ta.setSelectionRange(a + 2, a + 2));
      return;
    }
    escaped.current = false;
  };
  return html`<div class="yaml-editor">
    <pre class="yaml yaml-layer" aria-hidden="true" ref=${layer}><code>${highlight(value)}${'\n'}</code>${invalidLine
        ? html`<span class="yaml-bad-line" style=${`top: calc(${invalidLine - 1} * var(--code-line) + var(--code-pad))`}></span>`
        : null}</pre>
    <textarea class="yaml-input" value=${value} spellcheck="false" autocapitalize="off" autocomplete="off" wrap="off"
      aria-label=${label} aria-describedby="yaml-editor-hint" onInput=${(e) => onInput(e.currentTarget.value)}
      onScroll=${sync} onKeyDown=${onKeyDown}></textarea>
    <small id="yaml-editor-hint" class="muted">Tab indents; Escape then Tab leaves the editor.</small>
  </div>`;
}
