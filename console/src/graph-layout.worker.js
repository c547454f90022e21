// Lays out the namespace graph off the main thread (dagre takes a moment at hundreds of nodes):
// {nodes, edges, node: {width, height}} in, positions and edge routes out.

import { graphlib, layout } from '@dagrejs/dagre';

self.onmessage = ({ data }) => {
  const { nodes, edges, node } = data;
  const g = new graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 16, ranksep: 80, edgesep: 8, marginx: 24, marginy: 24 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: node.width, height: node.height });
  for (const e of edges) if (g.hasNode(e.from) && g.hasNode(e.to)) g.setEdge(e.from, e.to, { relation: e.relation });
  layout(g);
  self.postMessage({
    width: g.graph().width,
    height: g.graph().height,
    positions: Object.fromEntries(nodes.map((n) => [n.id, { x: g.node(n.id).x, y: g.node(n.id).y }])),
    routes: g.edges().map((e) => ({ from: e.v, to: e.w, relation: g.edge(e).relation, points: g.edge(e).points })),
  });
};
