// History-API routing: real paths (/resources/…, /browse?…), so links can be opened in a new
// tab, bookmarked and shared. The gateway serves index.html for every such path.

import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';

const html = htm.bind(h);
const listeners = new Set();

function notify() {
  for (const fn of listeners) fn(location.pathname + location.search);
}

addEventListener('popstate', notify);

export function navigate(to, { replace = false } = {}) {
  if (to === location.pathname + location.search) return;
  history[replace ? 'replaceState' : 'pushState'](null, '', to);
  notify();
  if (!replace) window.scrollTo(0, 0);
}

/** Merges `params` into the current query string (empty values are removed). */
export function setQuery(params, { replace = true } = {}) {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '' || v === false) q.delete(k);
    else q.set(k, String(v));
  }
  const s = q.toString();
  navigate(location.pathname + (s ? `?${s}` : ''), { replace });
}

/** The current location: {path, query} (query is a URLSearchParams). */
export function useLocation() {
  const [, setHref] = useState(location.pathname + location.search);
  useEffect(() => {
    listeners.add(setHref);
    return () => listeners.delete(setHref);
  }, []);
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

/** Matches `/a/:x/:y` patterns; answers the decoded params or null. */
export function match(pattern, path) {
  const p = pattern.split('/').filter(Boolean);
  const s = path.split('/').filter(Boolean);
  if (p.length !== s.length) return null;
  const params = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) params[p[i].slice(1)] = decodeURIComponent(s[i]);
    else if (p[i] !== s[i]) return null;
  }
  return params;
}

/** An in-app link: a real <a href>, so that middle-click and copy-link work. */
export function Link({ href, children, class: cls, ...rest }) {
  const onClick = (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return html`<a href=${href} class=${cls} onClick=${onClick} ...${rest}>${children}</a>`;
}
