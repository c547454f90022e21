import { render } from 'preact';
import './styles.css';
import { App } from './app.js';
import { html } from './ui.js';

if (location.pathname === '/') history.replaceState(null, '', '/resources');
const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);
