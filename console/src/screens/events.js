// A table of Kubernetes events, newest first as given: type, reason (×count), object, age,
// message. Used by the resource's Kubernetes tab and by one object's Events view.

import { age } from '../format.js';
import { eventTime } from '../kube.js';
import { html } from '../ui.js';

export function EventsList({ events, empty = 'No events for the workload or its pods.' }) {
  if (!events.length) return html`<p class="empty">${empty}</p>`;
  return html`<div class="table-wrap"><table class="table events-table">
    <caption class="sr-only">Events</caption>
    <thead><tr><th scope="col">Type</th><th scope="col">Reason</th><th scope="col">Object</th><th scope="col" class="num">Age</th><th scope="col">Message</th></tr></thead>
    <tbody>${events.map(
      (e) => html`<tr key=${e.metadata?.uid || e.metadata?.name} class=${e.type === 'Warning' ? 'event-warning' : ''}>
        <td>${e.type === 'Warning' ? html`<span class="text-warning">Warning</span>` : e.type}</td>
        <td>${e.reason}${e.count > 1 ? html` <span class="muted">×${e.count}</span>` : ''}</td>
        <td class="mono small">${e.involvedObject?.kind?.toLowerCase()}/${e.involvedObject?.name}</td>
        <td class="num">${age(eventTime(e))}</td>
        <td class="wrap-text">${e.message}</td>
      </tr>`,
    )}</tbody>
  </table></div>`;
}
