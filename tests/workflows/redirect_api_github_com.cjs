// Rehearsal only (loaded with NODE_OPTIONS=--require by tests/workflows/test_data_refresh.py): the real
// peter-evans/create-pull-request sends its REST calls to a hard-coded https://api.github.com when the
// remote is on github.com; this sends them to $GITHUB_API_URL (the loopback GitHub API stand-in) instead.
'use strict';
const prefix = 'https://api.github.com';
const target = (process.env.GITHUB_API_URL || '').replace(/\/$/, '');
const original = globalThis.fetch;
if (target && !target.startsWith(prefix) && typeof original === 'function') {
  globalThis.fetch = function redirected(input, init) {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (url.startsWith(prefix)) {
      const moved = target + url.slice(prefix.length);
      input = typeof input === 'string' || input instanceof URL ? moved : new Request(moved, input);
    }
    return original.call(this, input, init);
  };
}
