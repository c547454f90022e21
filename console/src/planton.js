// The `planton` command that does what a console action does, for the terminal and for
// scripts: the same op, target and options (services/cli: `planton kubectl …`).

const sh = (v) => (/^[\w@%+=:,./-]+$/.test(v) ? v : `'${String(v).replace(/'/g, `'\\''`)}'`);

/** The target flags: `-r org/env/Kind/name` (developer mode) or `--connection C -n NS`. */
export function targetFlags(target) {
  if (target.resource) return `-r ${sh(target.resource)}`;
  const ns = target.namespace ? ` -n ${sh(target.namespace)}` : '';
  return `--connection ${sh(target.connection)}${ns}`;
}

/**
 * The commands for one object's actions: [{label, command}]. `kind` is the plural discovery
 * name (pods, deployments…), `restartable` whether a rollout restart applies.
 */
export function objectCommands(target, kind, name, { restartable = false, pod = false, container = '', scalable = null, rollable = false } = {}) {
  const t = targetFlags(target);
  const k = `${sh(kind)} ${sh(name)}`;
  const c = container ? ` -c ${sh(container)}` : '';
  const out = [
    { label: 'Describe', command: `planton kubectl describe ${k} ${t}` },
    { label: 'YAML', command: `planton kubectl get ${k} ${t} -o yaml` },
    { label: 'Edit', command: `planton kubectl edit ${k} ${t}` },
  ];
  if (pod) {
    out.push({ label: 'Logs', command: `planton kubectl logs ${sh(name)}${c} ${t} -f` });
    out.push({ label: 'Shell', command: `planton kubectl exec -it ${sh(name)}${c} ${t} -- sh` });
  }
  if (scalable !== null) out.push({ label: 'Scale', command: `planton kubectl scale ${k} --replicas ${scalable} ${t}` });
  if (restartable) out.push({ label: 'Rollout restart', command: `planton kubectl rollout restart ${k} ${t}` });
  if (rollable) {
    out.push({ label: 'History', command: `planton kubectl rollout history ${k} ${t}` });
    out.push({ label: 'Undo', command: `planton kubectl rollout undo ${k} ${t}` });
  }
  out.push({ label: 'Delete', command: `planton kubectl delete ${k} ${t}` });
  return out;
}
