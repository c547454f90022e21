// A small YAML highlighter for the object view and editor: keys, strings, numbers, booleans
// and null, comments, and the punctuation around them. Line by line, so that it keeps up
// while typing; it colours, it does not validate (the `yaml` parser does that on save).

import { h } from 'preact';

const NUMBER = /^[-+]?(\d[\d_]*(\.\d*)?([eE][-+]?\d+)?|\.\d+|0x[\da-fA-F]+|0o[0-7]+|\.inf|\.nan)$/;
const BOOL = /^(true|false|yes|no|on|off|null|~)$/i;
const KEY = /^((?:"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"{[\]},][^#]*?))(\s*:)(?=\s|$)/;

function scalar(text) {
  const t = text.trim();
  if (!t) return 'plain';
  if (t[0] === '"' || t[0] === "'") return 'str';
  if (NUMBER.test(t)) return 'num';
  if (BOOL.test(t)) return 'bool';
  if (t[0] === '&' || t[0] === '*' || t[0] === '!') return 'anchor';
  if (t === '|' || t === '>' || /^[|>][-+]?\d*$/.test(t)) return 'punct';
  return 'str';
}

/** Splits a value from a trailing comment (a # after whitespace, outside quotes). */
function splitComment(text) {
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") {
      if (i === 0 || /\s/.test(text[i - 1])) quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]))) {
      return [text.slice(0, i), text.slice(i)];
    }
  }
  return [text, ''];
}

/** One line as tokens [class, text]; class '' is unstyled. */
function tokenizeLine(line) {
  const out = [];
  const indent = /^\s*/.exec(line)[0];
  if (indent) out.push(['', indent]);
  let rest = line.slice(indent.length);
  if (rest.startsWith('#')) return [...out, ['com', rest]];
  if (rest === '---' || rest === '...') return [...out, ['punct', rest]];
  while (rest.startsWith('- ') || rest === '-') {
    out.push(['punct', rest.slice(0, 1)], ['', rest.slice(1, 2)]);
    rest = rest.slice(2);
  }
  const key = KEY.exec(rest);
  if (key) {
    out.push(['key', key[1]], ['punct', key[2]]);
    rest = rest.slice(key[0].length);
  }
  const [value, comment] = splitComment(rest);
  const lead = /^\s*/.exec(value)[0];
  if (lead) out.push(['', lead]);
  const v = value.slice(lead.length);
  if (v) {
    const trail = /\s*$/.exec(v)[0];
    const body = v.slice(0, v.length - trail.length);
    out.push([scalar(body), body]);
    if (trail) out.push(['', trail]);
  }
  if (comment) out.push(['com', comment]);
  return out;
}

/** Highlighted YAML as vnodes (one text node per token, inside the caller's <pre><code>). */
export function highlight(text) {
  const lines = text.split('\n');
  const nodes = [];
  lines.forEach((line, i) => {
    for (const [cls, t] of tokenizeLine(line)) nodes.push(cls ? h('span', { class: `y-${cls}` }, t) : t);
    if (i < lines.length - 1) nodes.push('\n');
  });
  return nodes;
}
