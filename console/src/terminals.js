// Shells that outlive the screen that opened them: the app's list of open terminals, shown in
// the terminal dock (screens/terminal-dock.js) until closed. Provided by the shell (app.js).
//
// They outlive a reload of the page too: each live shell's session (its events and input URLs,
// and the last input seq sent) is kept in sessionStorage, and the dock attaches to it again.
// The runner keeps a session for a few seconds without its viewer (SESSION_IDLE, 6 s), longer
// than a reload takes; its output is replayed from JetStream from the start, so the terminal
// comes back as it was.

import { createContext } from 'preact';
import { useContext, useEffect, useRef, useState } from 'preact/hooks';

export const TerminalsContext = createContext(null);

/** {list, active, expanded, open(spec, {reuse}), show(id), close(id), setPhase, attached, sent, setExpanded} */
export const useTerminals = () => useContext(TerminalsContext);

const live = (t) => t.phase === 'starting' || t.phase === 'connected';

const SAVED = 'cloudops.terminals';

/** The shells a reload left, to attach to again: [{key, target, pod, container, command, label, attach}]. */
function saved() {
  try {
    const list = JSON.parse(sessionStorage.getItem(SAVED) || '[]');
    return Array.isArray(list) ? list.filter((t) => t?.attach?.session && Array.isArray(t.command)) : [];
  } catch {
    return [];
  }
}

/** Forgets the shells kept for a reload (on sign-out: they belong to who was signed in). */
export function forgetTerminals() {
  try {
    sessionStorage.removeItem(SAVED);
  } catch {
    /* storage unavailable: nothing kept */
  }
}

export function useTerminalStore() {
  const [list, setList] = useState(() => saved().map((t, i) => ({ ...t, id: i + 1, phase: 'starting' })));
  const [active, setActive] = useState(() => list.length);
  const [expanded, setExpanded] = useState(true);
  const next = useRef(list.length + 1);
  // The last input seq each session sent: it changes with every keystroke, so it stays out of
  // render state and is written with the list.
  const seqs = useRef(null);
  seqs.current ??= new Map(list.map((t) => [t.attach.session, t.attach.seq || 0]));
  const current = useRef(list);
  current.current = list;
  const persist = () => {
    const keep = current.current
      .filter((t) => t.attach && live(t))
      .map(({ id, phase, ...t }) => ({ ...t, attach: { ...t.attach, seq: seqs.current.get(t.attach.session) || 0 } }));
    try {
      if (keep.length) sessionStorage.setItem(SAVED, JSON.stringify(keep));
      else sessionStorage.removeItem(SAVED);
    } catch {
      /* storage full or unavailable: a reload loses the dock, as before */
    }
  };
  useEffect(persist, [list]);
  const show = (id) => {
    setActive(id);
    setExpanded(true);
  };
  return {
    list,
    active,
    expanded,
    setExpanded,
    show,
    setActive,
    /**
     * Opens a shell ({key, target, pod, container, command, label}); with `reuse`, shows the
     * live one already open in that pod instead.
     */
    open(spec, { reuse = false } = {}) {
      const same = reuse && list.find((t) => t.key === spec.key && t.pod === spec.pod && live(t));
      if (same) return show(same.id);
      const id = next.current++;
      setList((l) => [...l, { ...spec, id, phase: 'starting' }]);
      show(id);
    },
    close(id) {
      setList((l) => l.filter((t) => t.id !== id));
    },
    setPhase(id, phase) {
      setList((l) => l.map((t) => (t.id === id && t.phase !== phase ? { ...t, phase } : t)));
    },
    /** The session a shell started ({session, events, input, namespace, pod, container}). */
    attached(id, attach) {
      setList((l) => l.map((t) => (t.id === id ? { ...t, attach } : t)));
    },
    /** A shell sent input `seq` (kept so that input after a reload continues the sequence). */
    sent(session, seq) {
      seqs.current.set(session, seq);
      persist();
    },
  };
}
