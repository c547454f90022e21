// xterm.js set up once for the exec terminal and the session replay: theme, fit to the box,
// copy on Ctrl+Shift+C (and Ctrl+C with a selection), paste on Ctrl+Shift+V.

import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';
import { copyText } from './ui.js';

const THEME = {
  background: '#0f1720',
  foreground: '#dbe4ee',
  cursor: '#7cc4ff',
  selectionBackground: '#2f4f6f',
  black: '#1b2430',
  red: '#f27272',
  green: '#7bd88f',
  yellow: '#f5c96a',
  blue: '#6cb6ff',
  magenta: '#d2a8ff',
  cyan: '#56d4dd',
  white: '#dbe4ee',
  brightBlack: '#5c6b7a',
  brightRed: '#ff8f8f',
  brightGreen: '#98e6a8',
  brightYellow: '#ffdd8f',
  brightBlue: '#90caff',
  brightMagenta: '#e2c5ff',
  brightCyan: '#7ee8ef',
  brightWhite: '#ffffff',
};

/** A terminal in `el`, fitted to it (and refitted when it resizes). */
export function createTerminal(el, { readOnly = false } = {}) {
  const term = new Terminal({
    theme: THEME,
    fontFamily: 'ui-monospace, "SFMono-Regular", "JetBrains Mono", Menlo, Consolas, monospace',
    fontSize: 13,
    lineHeight: 1.15,
    cursorBlink: !readOnly,
    disableStdin: readOnly,
    scrollback: 5000,
    convertEol: false,
    allowProposedApi: false,
    screenReaderMode: false,
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(el);
  term.attachCustomKeyEventHandler((e) => {
    if (e.type !== 'keydown') return true;
    const copy = (e.ctrlKey && e.shiftKey && e.code === 'KeyC') || (e.ctrlKey && !e.shiftKey && e.code === 'KeyC' && term.hasSelection());
    if (copy) {
      copyText(term.getSelection());
      e.preventDefault();
      return false;
    }
    if (!readOnly && e.ctrlKey && e.shiftKey && e.code === 'KeyV') {
      e.preventDefault();
      navigator.clipboard?.readText().then((t) => term.paste(t), () => {});
      return false;
    }
    return true;
  });
  const refit = () => {
    if (el.clientWidth && el.clientHeight) fit.fit();
  };
  refit();
  const observer = new ResizeObserver(() => requestAnimationFrame(refit));
  observer.observe(el);
  return {
    term,
    refit,
    dispose() {
      observer.disconnect();
      term.dispose();
    },
  };
}
