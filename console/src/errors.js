// Errors written for people: a sentence saying what went wrong, the cause as the server gave it,
// what to do about it, and the rest (long SDK chains, codes) folded away. The gateway's message
// stays the cause: it names the object, the cloud call and the region; this adds the rest.

/** The cause and the details of a message: a long one keeps its first clause in view. */
export function splitMessage(message) {
  const text = String(message || '').trim();
  if (text.length <= 220) return { cause: text, details: '' };
  // "cannot reach AWS for ec2:DescribeInstances in region "x" (…): dispatch failure: …": the
  // first ": " that follows a space-free word boundary ends the part people read.
  const cut = text.search(/: (?=\S)/);
  if (cut >= 20 && cut <= 220) return { cause: text.slice(0, cut), details: text.slice(cut + 2) };
  return { cause: `${text.slice(0, 200).replace(/\s+\S*$/, '')}…`, details: text };
}

const RUNNER = /runner "([^"]+)"/;

/**
 * {headline, cause, todo, details, code} for an ApiError, an Error or a string.
 * @param what  what was being done, for the headline ("Pods", "Discovery"); optional
 */
export function explain(error, what) {
  if (!error) return null;
  const message = typeof error === 'string' ? error : error.message || String(error);
  const code = error.code || '';
  const status = error.status ?? -1;
  const { cause, details } = splitMessage(message);
  const runner = RUNNER.exec(message)?.[1];
  const out = (headline, todo) => ({
    headline: what ? `${what}: ${headline}` : headline.charAt(0).toUpperCase() + headline.slice(1),
    cause,
    todo,
    details,
    code,
  });
  switch (code) {
    case 'NETWORK':
      return out('the control plane cannot be reached.', 'Check your network connection, then retry.');
    case 'PERMISSION_DENIED':
      return out(
        'your role does not allow this.',
        'Ask an admin of your org for a grant with the role it names; what you may do is listed under your name.',
      );
    case 'UNAUTHENTICATED':
      return out('you are signed out.', 'Sign in again.');
    case 'NOT_FOUND':
      return out('it does not exist (any more).', 'It may have been deleted or renamed: go back to the list and refresh.');
    case 'INVALID_ARGUMENT':
      return out('the request was refused as given.', 'Change what the message names, then try again.');
    case 'CONFLICT':
      return out('it was changed by someone else meanwhile.', 'Reload to get the latest, then apply your change again.');
    case 'RUNNER_NOT_CONNECTED':
      return out(
        runner ? `runner ${runner} is not connected.` : 'the runner is not connected.',
        'Check that the runner is running and can reach the control plane (Runners page); the request can be retried once it is back.',
      );
    case 'RUNNER_TIMEOUT':
      return out('the runner did not answer in time.', 'Retry; if it keeps happening, the runner or the API behind it is overloaded.');
    case 'NO_RUNNER':
      return out('no runner serves this connection.', 'Deploy a runner for it (Runners → Deploy runner), or pick another connection.');
    case 'UPSTREAM':
      return out('the API behind the runner refused the request.', 'The cause below is the API’s own answer.');
    case 'UNAVAILABLE':
      return out(
        /cannot reach|no .* credentials/i.test(message) ? 'the runner cannot do this right now.' : 'the service is unavailable right now.',
        /credentials/i.test(message)
          ? 'Give the runner credentials for this cloud (see “Runner credentials” in the docs), then retry.'
          : /region/i.test(message)
            ? 'Check the region (the connection’s setting, or the one chosen here), then retry.'
            : 'Retry in a moment.',
      );
    default:
      if (status >= 500) return out('something failed on the control plane.', 'Retry; if it keeps failing, the control plane’s log says why.');
      return out('it did not work.', '');
  }
}
