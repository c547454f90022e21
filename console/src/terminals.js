// Shells that outlive the screen that opened them: the app's list of open terminals, shown in
// the terminal dock (screens/terminal-dock.js) until closed. Provided by the shell (app.js).

import { createContext } from 'preact';
import { useContext, useRef, useState } from 'preact/hooks';

export const TerminalsContext = createContext(null);

/** {list, active, expanded, open(spec, {reuse}), show(id), close(id), setPhase, setExpanded} */
export const useTerminals = () => useContext(TerminalsContext);

const live = (t) => t.phase === 'starting' || t.phase === 'connected';

export function useTerminalStore() {
  const [list, setList] = useState([]);
  const [active, setActive] = useState(0);
  const [expanded, setExpanded] = useState(true);
  const next = useRef(1);
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
  };
}
