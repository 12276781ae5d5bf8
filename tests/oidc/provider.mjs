// Test-only OpenID Connect provider (npm "oidc-provider" 9.x) for microblog's
// end-to-end tests. Loopback only, in-memory state, fresh keys per start.
//
// Configuration (environment; argv[2] may give the port):
//   PORT                 listen port on 127.0.0.1; 0 or unset = pick a free one
//   ISSUER               issuer URL; default http://127.0.0.1:<port>. "{port}" is
//                        replaced by the bound port; a path (http://h:p/tenant)
//                        mounts the provider under that path.
//   CLIENT_ID            default "microblog"
//   CLIENT_SECRET        default "microblog-secret"
//   REDIRECT_URIS        JSON array or comma list (required)
//   POST_LOGOUT_REDIRECT_URIS  JSON array or comma list (optional)
//   CLIENT_AUTH_METHOD   client_secret_basic (default) | client_secret_post; the
//                        registered method, but 9.x accepts either one at /token
//   ACCOUNTS             JSON {"<login>": {claim overrides}}; a null value drops
//                        that claim. Any login is accepted; it becomes the sub.
//   CONFORM_ID_TOKEN_CLAIMS  "1" = scope claims only at userinfo (id_token has
//                        just sub and protocol claims); default puts them in both
//   OIDC_PROVIDER_DEBUG  "1" = keep oidc-provider's development notices
//
// Prints "READY <listen-url> <issuer>" once listening; exits 0 on SIGTERM/SIGINT.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

const debug = process.env.OIDC_PROVIDER_DEBUG === '1';

// oidc-provider prints development notices through console.info/warn. They are
// expected for a throwaway test provider (Node 20 runtime notice, in-memory
// adapter, default helper functions), so drop them unless debugging.
if (!debug) {
  const quiet = /^oidc-provider (NOTICE:|WARNING: (Unsupported runtime|a quick start development-only in-memory adapter))/;
  for (const name of ['info', 'warn']) {
    const original = console[name].bind(console);
    console[name] = (first, ...rest) => {
      if (typeof first === 'string' && quiet.test(first)) return;
      original(first, ...rest);
    };
  }
}

const { default: Provider } = await import('oidc-provider');

function fail(message) {
  console.error(`provider.mjs: ${message}`);
  process.exit(2);
}

function parseList(name, value, required) {
  const raw = (value ?? '').trim();
  if (!raw) {
    if (required) fail(`${name} is required`);
    return [];
  }
  let parsed;
  if (raw.startsWith('[')) {
    try {
      parsed = JSON.parse(raw);
    } catch (err) {
      fail(`${name} is not valid JSON: ${err.message}`);
    }
    if (!Array.isArray(parsed) || !parsed.every((v) => typeof v === 'string')) {
      fail(`${name} must be a JSON array of strings`);
    }
  } else {
    parsed = raw.split(',').map((v) => v.trim()).filter(Boolean);
  }
  if (required && !parsed.length) fail(`${name} is required`);
  return parsed;
}

function parseAccounts(value) {
  if (!value || !value.trim()) return {};
  let parsed;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    fail(`ACCOUNTS is not valid JSON: ${err.message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    fail('ACCOUNTS must be a JSON object of {login: {claim: value}}');
  }
  return parsed;
}

const portText = process.argv[2] ?? process.env.PORT ?? '0';
const requestedPort = Number.parseInt(portText, 10);
if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535) {
  fail(`invalid port ${JSON.stringify(portText)}`);
}

const clientId = process.env.CLIENT_ID || 'microblog';
const clientSecret = process.env.CLIENT_SECRET || 'microblog-secret';
const redirectUris = parseList('REDIRECT_URIS', process.env.REDIRECT_URIS, true);
const postLogoutRedirectUris = parseList(
  'POST_LOGOUT_REDIRECT_URIS',
  process.env.POST_LOGOUT_REDIRECT_URIS,
  false,
);
const clientAuthMethod = process.env.CLIENT_AUTH_METHOD || 'client_secret_basic';
if (!['client_secret_basic', 'client_secret_post'].includes(clientAuthMethod)) {
  fail('CLIENT_AUTH_METHOD must be client_secret_basic or client_secret_post');
}
const accounts = parseAccounts(process.env.ACCOUNTS);
const conformIdTokenClaims = process.env.CONFORM_ID_TOKEN_CLAIMS === '1';

const escapeHtml = (value) => String(value ?? '').replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

function page(title, body) {
  // No external resources (fonts, scripts): browsers under test stay on loopback.
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>
`;
}

function claimsFor(accountId) {
  const claims = {
    sub: accountId,
    email: `${accountId}@example.test`,
    email_verified: true,
    preferred_username: accountId,
    nickname: accountId,
    name: accountId,
  };
  const overrides = Object.hasOwn(accounts, accountId) ? accounts[accountId] : {};
  for (const [key, value] of Object.entries(overrides ?? {})) {
    if (key === 'sub') continue; // the login typed is always the sub
    if (value === null) delete claims[key];
    else claims[key] = value;
  }
  return claims;
}

const signingKey = {
  ...crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid: `test-${crypto.randomBytes(6).toString('hex')}`,
  alg: 'RS256',
  use: 'sig',
};

const server = http.createServer();
server.keepAliveTimeout = 1000;

try {
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(requestedPort, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
} catch (err) {
  fail(`cannot listen on 127.0.0.1:${requestedPort}: ${err.message}`);
}

const { port } = server.address();
const listenUrl = `http://127.0.0.1:${port}`;
const issuer = (process.env.ISSUER || listenUrl).replaceAll('{port}', String(port)).replace(/\/+$/, '');
let mountPath;
try {
  mountPath = new URL(issuer).pathname.replace(/\/+$/, '');
} catch {
  fail(`invalid ISSUER ${JSON.stringify(issuer)}`);
}

const client = {
  client_id: clientId,
  client_secret: clientSecret,
  redirect_uris: redirectUris,
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: clientAuthMethod,
  id_token_signed_response_alg: 'RS256',
};
if (postLogoutRedirectUris.length) client.post_logout_redirect_uris = postLogoutRedirectUris;

let provider;
try {
  provider = new Provider(issuer, {
    clients: [client],
    jwks: { keys: [signingKey] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    scopes: ['openid', 'email', 'profile'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['preferred_username', 'nickname', 'name'],
    },
    conformIdTokenClaims,
    pkce: { required: () => true }, // S256 is the only method 9.x supports
    responseTypes: ['code'],
    clientBasedCORS: () => false,
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource(ctx, form) {
          const buttons = '<button type="submit" name="logout" value="yes">Sign out</button>\n'
            + '<button type="submit">Stay signed in</button>\n</form>';
          ctx.body = page('Sign out', form.replace('</form>', buttons));
        },
        postLogoutSuccessSource(ctx) {
          ctx.body = page('Signed out', '<p id="signed-out">You are signed out.</p>');
        },
      },
    },
    interactions: {
      url: (ctx, interaction) => `${mountPath}/interaction/${interaction.uid}`,
    },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          return claimsFor(id);
        },
      };
    },
    renderError(ctx, out) {
      ctx.type = 'html';
      const rows = Object.entries(out)
        .map(([k, v]) => `<pre id="${escapeHtml(k)}">${escapeHtml(k)}: ${escapeHtml(v)}</pre>`)
        .join('\n');
      ctx.body = page('OpenID Provider error', rows);
    },
  });
} catch (err) {
  fail(`invalid provider configuration: ${err.message}`);
}
provider.proxy = false;

try {
  // static clients are validated lazily; fail now rather than at the first /auth
  if (!(await provider.Client.find(clientId))) throw new Error('client not found');
} catch (err) {
  fail(`invalid client configuration: ${err.error_description ?? err.message}`);
}

for (const event of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error']) {
  provider.on(event, (ctx, err) => {
    const detail = err.error_description ? `${err.message}: ${err.error_description}` : err.message;
    console.error(`${event}: ${detail}`);
  });
}

const MAX_BODY = 64 * 1024;

function readForm(req) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

function send(res, status, body) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(body);
}

function loginPage(uid, details, message) {
  const base = `${mountPath}/interaction/${uid}`;
  const hint = details.params.login_hint ?? '';
  return page('Sign in', `
<p>Client <code id="client-id">${escapeHtml(details.params.client_id)}</code> asks you to sign in.
Any login is accepted; it becomes your subject identifier.</p>
${message ? `<p id="message">${escapeHtml(message)}</p>` : ''}
<form id="login-form" method="post" action="${base}/login" autocomplete="off">
  <label>Login <input type="text" name="login" value="${escapeHtml(hint)}" required autofocus></label>
  <button type="submit" id="sign-in">Sign in</button>
</form>
<form id="abort-form" method="post" action="${base}/abort">
  <button type="submit" id="cancel">Cancel</button>
</form>`);
}

function consentPage(uid, details) {
  const base = `${mountPath}/interaction/${uid}`;
  const scopes = details.prompt.details.missingOIDCScope ?? [];
  const claims = details.prompt.details.missingOIDCClaims ?? [];
  return page('Authorize', `
<p>Client <code id="client-id">${escapeHtml(details.params.client_id)}</code> requests access
for <code id="account-id">${escapeHtml(details.session?.accountId)}</code>.</p>
<p>Scopes: <span id="scopes">${escapeHtml(scopes.join(' '))}</span></p>
<p>Claims: <span id="claims">${escapeHtml(claims.join(' '))}</span></p>
<form id="consent-form" method="post" action="${base}/confirm">
  <button type="submit" name="decision" value="approve" id="approve">Approve</button>
  <button type="submit" name="decision" value="deny" id="deny">Deny</button>
</form>`);
}

const denied = {
  error: 'access_denied',
  error_description: 'End-User denied the request',
};

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    send(res, 400, page('Error', '<p id="error">interaction mismatch</p>'));
    return;
  }
  const { prompt } = details;

  if (!action) {
    if (req.method !== 'GET') {
      send(res, 405, page('Error', '<p id="error">method not allowed</p>'));
    } else if (prompt.name === 'login') {
      send(res, 200, loginPage(uid, details));
    } else if (prompt.name === 'consent') {
      send(res, 200, consentPage(uid, details));
    } else {
      send(res, 501, page('Error', `<p id="error">unsupported prompt ${escapeHtml(prompt.name)}</p>`));
    }
    return;
  }

  if (action === 'abort') {
    if (req.method === 'POST') await readForm(req);
    await provider.interactionFinished(req, res, denied, { mergeWithLastSubmission: false });
    return;
  }

  if (req.method !== 'POST') {
    send(res, 405, page('Error', '<p id="error">method not allowed</p>'));
    return;
  }
  const form = await readForm(req);

  if (action === 'login') {
    if (prompt.name !== 'login') {
      send(res, 400, page('Error', '<p id="error">not at the login step</p>'));
      return;
    }
    const login = (form.get('login') ?? '').trim();
    if (!login) {
      send(res, 400, loginPage(uid, details, 'Login is required.'));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: login } }, {
      mergeWithLastSubmission: false,
    });
    return;
  }

  // action === 'confirm'
  if (prompt.name !== 'consent') {
    send(res, 400, page('Error', '<p id="error">not at the consent step</p>'));
    return;
  }
  if (form.get('decision') !== 'approve') {
    await provider.interactionFinished(req, res, denied, { mergeWithLastSubmission: false });
    return;
  }
  const { grantId, session, params } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scope] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scope.join(' '));
    }
  }
  const result = { consent: { grantId: await grant.save() } };
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

const callback = provider.callback();
const interactionPath = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/;

server.on('request', async (req, res) => {
  res.on('finish', () => {
    console.log(`${req.method} ${req.originalUrl ?? req.url} -> ${res.statusCode}`);
  });
  try {
    let path = new URL(req.url, listenUrl).pathname;
    if (mountPath) {
      if (path !== mountPath && !path.startsWith(`${mountPath}/`)) {
        send(res, 404, page('Not found', '<p id="error">not found</p>'));
        return;
      }
      let rest = req.url.slice(mountPath.length);
      if (!rest.startsWith('/')) rest = `/${rest}`;
      req.originalUrl = req.url; // express-style mount, understood by oidc-provider
      req.url = rest;
      path = path.slice(mountPath.length) || '/';
    }
    const match = interactionPath.exec(path);
    if (match) {
      await interaction(req, res, match[1], match[2]);
      return;
    }
    callback(req, res);
  } catch (err) {
    const status = err.statusCode ?? err.status ?? 500;
    if (status >= 500) console.error(err);
    if (!res.headersSent) {
      const text = err.error_description ? `${err.message}: ${err.error_description}` : err.message;
      send(res, status, page('Error', `<p id="error">${escapeHtml(text)}</p>`));
    } else {
      res.end();
    }
  }
});

let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`STOPPING on ${signal}`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

console.log(`READY ${listenUrl} ${issuer}`);
