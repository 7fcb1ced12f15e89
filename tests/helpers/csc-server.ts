/**
 * A CSC API v2 remote-signing service for tests (no such service exists on Debian or npm). It
 * follows the request and response shapes of "Architectures and protocols for remote signature
 * applications" 2.0.0.2 — info, auth/login, credentials/list|info|authorize, signatures/signHash,
 * oauth2/authorize|token with PKCE — including its error objects ({ error, error_description }),
 * and is backed by RSA keys it generates, certified by a test CA (tests/helpers/pki.ts).
 *
 * Knobs let tests make it fail the way real services do: down, slow, failing at the n-th
 * signHash, answering with a signature over another hash, SADs that expire.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { constants, createHash, generateKeyPairSync, privateEncrypt, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { issue, testCa, type TestCa } from './pki.ts';

const SHA256 = '2.16.840.1.101.3.4.2.1';
const RSA = '1.2.840.113549.1.1.1';
const SHA256_RSA = '1.2.840.113549.1.1.11';
const DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

export interface CredentialSpec {
  id: string;
  /** The account (auth/login user) owning it. */
  owner: string;
  cn: string;
  o?: string;
  pin: string;
  otp?: string;
  authMode?: 'explicit' | 'oauth2code';
  /** Certificate already expired (validTo in the past). */
  expired?: boolean;
  /** The service hands out a certificate that does not belong to the key. */
  wrongCertificate?: boolean;
}

export interface Knobs {
  /** This signatures/signHash call (1-based, counted from the server's start; see failAtSignHash) answers HTTP 503 with server_error. */
  failSignHashAt?: number;
  /** signHash signs SHA-256 of the hash instead of the hash itself. */
  signOtherHash?: boolean;
  /** Delay every answer (timeouts). */
  delayMs?: number;
  /** Lifetime of a SAD in seconds (default 300). */
  sadSeconds?: number;
  /** The SAD expires at once although expiresIn says otherwise (the service's clock disagrees). */
  sadExpiresAtOnce?: boolean;
}

interface Credential extends CredentialSpec {
  key: KeyObject;
  chain: Uint8Array[];
}

interface Sad {
  credentialID: string;
  remaining: number;
  hashes: Map<string, number>;
  expires: number;
}

export interface CscTestServer {
  url: string;
  /** The CSC base URL (…/csc/v2), for ZV_CSC_URL. */
  base: string;
  ca: TestCa;
  close(): Promise<void>;
  knobs: Knobs;
  /** Every request: method path and body (secrets included, for assertions). */
  log: { path: string; body: Record<string, unknown>; status: number }[];
  count(path: string): number;
  oauthClient: { id: string; secret: string; redirectUri: string };
  /** Adds a user account for auth/login and the OAuth login page. */
  users: Map<string, string>;
  /** The n-th signHash call from now on (1-based) fails with HTTP 503; undefined clears it. */
  failAtSignHash(n: number | undefined): void;
}

export async function startCscServer(opts: { credentials: CredentialSpec[]; users?: Record<string, string>; redirectUri?: string; knobs?: Knobs }): Promise<CscTestServer> {
  const ca = await testCa('Test-Vertrauensdienst Fernsignatur-CA');
  const credentials = new Map<string, Credential>();
  for (const spec of opts.credentials) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
    const other = spec.wrongCertificate ? generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey : publicKey;
    const cert = await issue(ca, {
      cn: spec.cn,
      o: spec.o,
      publicKey: other,
      ...(spec.expired ? { notBefore: new Date(Date.now() - 800 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) } : {}),
    });
    credentials.set(spec.id, { ...spec, key: privateKey, chain: [cert.der, ca.der] });
  }
  const users = new Map(Object.entries(opts.users ?? {}));
  const tokens = new Map<string, { user: string; scope: 'service' | 'credential'; expires: number; sad?: string }>();
  const sads = new Map<string, Sad>();
  const codes = new Map<string, { user: string; scope: 'service' | 'credential'; clientId: string; redirectUri: string; challenge: string; credentialID?: string; numSignatures?: number; hashes?: string[]; expires: number }>();
  const knobs: Knobs = opts.knobs ?? {};
  const log: CscTestServer['log'] = [];
  let signHashCalls = 0;
  const oauthClient = { id: 'zielwerk-test', secret: randomBytes(12).toString('hex'), redirectUri: opts.redirectUri ?? 'http://127.0.0.1/fernsignatur/rueckkehr' };

  const newToken = () => randomBytes(24).toString('base64url');
  const fail = (res: ServerResponse, status: number, error: string, description: string) => json(res, status, { error, error_description: description });
  const sadFor = (credentialID: string, numSignatures: number, hashes: string[]) => {
    const sad = newToken();
    const map = new Map<string, number>();
    for (const h of hashes) map.set(h, (map.get(h) ?? 0) + 1);
    sads.set(sad, { credentialID, remaining: numSignatures, hashes: map, expires: knobs.sadExpiresAtOnce ? Date.now() - 1 : Date.now() + (knobs.sadSeconds ?? 300) * 1000 });
    return sad;
  };
  const credentialInfo = (c: Credential) => {
    const leaf = new X509Certificate(c.chain[0]!);
    return {
      description: `Qualifiziertes Zertifikat von ${c.cn}`,
      signatureQualifier: 'eu_eidas_qes',
      key: { status: 'enabled', algo: [RSA, SHA256_RSA], len: 2048 },
      cert: {
        status: c.expired ? 'expired' : 'valid',
        certificates: c.chain.map((d) => Buffer.from(d).toString('base64')),
        issuerDN: leaf.issuer.split('\n').join(', '),
        serialNumber: leaf.serialNumber,
        subjectDN: leaf.subject.split('\n').join(', '),
        validFrom: leaf.validFrom,
        validTo: leaf.validTo,
      },
      auth:
        (c.authMode ?? 'explicit') === 'explicit'
          ? { mode: 'explicit', expression: c.otp ? 'PIN AND OTP' : 'PIN', objects: [{ type: 'Password', id: 'PIN', format: 'N', label: 'PIN' }, ...(c.otp ? [{ type: 'Password', id: 'OTP', format: 'N', label: 'Einmalpasswort (SMS)', generator: 'totp' }] : [])] }
          : { mode: 'oauth2code' },
      scal: '2',
      multisign: 1,
      lang: 'de',
    };
  };
  const bearer = (req: IncomingMessage) => {
    const h = req.headers.authorization ?? '';
    const m = /^Bearer (.+)$/.exec(h);
    const t = m ? tokens.get(m[1]!) : undefined;
    return t && t.expires > Date.now() ? { token: m![1]!, ...t } : undefined;
  };

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const raw = await readBody(req);
    if (knobs.delayMs) await new Promise((r) => setTimeout(r, knobs.delayMs));
    let body: Record<string, unknown> = {};
    const type = req.headers['content-type'] ?? '';
    try {
      if (type.includes('json') && raw.length) body = JSON.parse(raw.toString('utf8'));
      else if (type.includes('x-www-form-urlencoded')) body = Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
    } catch {
      return fail(res, 400, 'invalid_request', 'Malformed JSON body');
    }
    const path = url.pathname.replace(/^\/csc\/v2\//, '');
    const entry = { path, body, status: 0 };
    log.push(entry);
    const send = res.end.bind(res);
    res.end = ((...a: Parameters<typeof res.end>) => {
      entry.status = res.statusCode;
      return send(...a);
    }) as typeof res.end;

    if (req.method === 'POST' && path === 'info') {
      return json(res, 200, {
        specs: '2.0.0.2',
        name: 'Test-Vertrauensdienst',
        logo: `${base}/logo.png`,
        region: 'DE',
        lang: 'de',
        description: 'CSC-Testdienst für Zielwerk',
        authType: ['basic', 'oauth2code'],
        oauth2: `${root}/csc/v2`,
        methods: ['auth/login', 'credentials/list', 'credentials/info', 'credentials/authorize', 'signatures/signHash', 'oauth2/authorize', 'oauth2/token'],
      });
    }
    if (req.method === 'POST' && path === 'auth/login') {
      const m = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
      const [user, password] = m ? Buffer.from(m[1]!, 'base64').toString('utf8').split(':') : [];
      if (!user || users.get(user) !== password) return fail(res, 401, 'authentication_error', 'An error occurred during the authentication process');
      const t = newToken();
      tokens.set(t, { user, scope: 'service', expires: Date.now() + 3600_000 });
      return json(res, 200, { access_token: t, expires_in: 3600 });
    }
    if (req.method === 'POST' && path === 'oauth2/token') {
      const code = codes.get(String(body.code ?? ''));
      if (body.grant_type !== 'authorization_code') return fail(res, 400, 'unsupported_grant_type', 'Only authorization_code is supported');
      if (!code || code.expires < Date.now()) return fail(res, 400, 'invalid_grant', 'The authorization code is invalid or expired');
      if (body.client_id !== oauthClient.id || body.client_secret !== oauthClient.secret) return fail(res, 401, 'invalid_client', 'Client authentication failed');
      if (body.redirect_uri !== code.redirectUri) return fail(res, 400, 'invalid_grant', 'redirect_uri does not match');
      if (createHash('sha256').update(String(body.code_verifier ?? '')).digest('base64url') !== code.challenge) return fail(res, 400, 'invalid_grant', 'PKCE verification failed');
      codes.delete(String(body.code));
      const t = newToken();
      const sad = code.scope === 'credential' ? sadFor(code.credentialID!, code.numSignatures!, code.hashes!) : undefined;
      tokens.set(t, { user: code.user, scope: code.scope, expires: Date.now() + 3600_000, sad });
      return json(res, 200, { access_token: t, token_type: 'Bearer', expires_in: code.scope === 'credential' ? (knobs.sadSeconds ?? 300) : 3600 });
    }
    if (path === 'oauth2/authorize') return oauthAuthorize(req, res, url, body);

    // Everything else needs a service (or credential) token.
    const auth = bearer(req);
    if (!auth) return fail(res, 401, 'invalid_token', 'The access token is missing, invalid or expired');
    const own = (id: unknown) => {
      const c = credentials.get(String(id ?? ''));
      return c && c.owner === auth.user ? c : undefined;
    };
    if (req.method === 'POST' && path === 'credentials/list') {
      const mine = [...credentials.values()].filter((c) => c.owner === auth.user);
      return json(res, 200, { credentialIDs: mine.map((c) => c.id), ...(body.credentialInfo ? { credentialInfos: mine.map((c) => ({ credentialID: c.id, ...credentialInfo(c) })) } : {}) });
    }
    if (req.method === 'POST' && path === 'credentials/info') {
      const c = own(body.credentialID);
      if (!c) return fail(res, 400, 'invalid_request', 'Invalid parameter credentialID');
      return json(res, 200, credentialInfo(c));
    }
    if (req.method === 'POST' && path === 'credentials/authorize') {
      const c = own(body.credentialID);
      if (!c) return fail(res, 400, 'invalid_request', 'Invalid parameter credentialID');
      if ((c.authMode ?? 'explicit') !== 'explicit') return fail(res, 400, 'invalid_request', 'The credential uses oauth2code authorization');
      const n = Number(body.numSignatures);
      const hashes = Array.isArray(body.hashes) ? (body.hashes as string[]) : [];
      if (!Number.isInteger(n) || n < 1) return fail(res, 400, 'invalid_request', 'Invalid parameter numSignatures');
      if (hashes.length !== n) return fail(res, 400, 'invalid_request', 'The number of hashes does not match numSignatures');
      if (body.hashAlgorithmOID !== SHA256) return fail(res, 400, 'invalid_request', 'Invalid parameter hashAlgorithmOID');
      const data = new Map(((body.authData as { id: string; value: string }[]) ?? []).map((d) => [d.id, d.value]));
      if (data.get('PIN') !== c.pin) return fail(res, 400, 'invalid_pin', 'The PIN is invalid');
      if (c.otp && data.get('OTP') !== c.otp) return fail(res, 400, 'invalid_otp', 'The OTP is invalid');
      return json(res, 200, { SAD: sadFor(c.id, n, hashes), expiresIn: knobs.sadSeconds ?? 300 });
    }
    if (req.method === 'POST' && path === 'signatures/signHash') {
      signHashCalls++;
      if (knobs.failSignHashAt !== undefined && signHashCalls === knobs.failSignHashAt) return fail(res, 503, 'server_error', 'The signing service is temporarily unavailable');
      const c = own(body.credentialID);
      if (!c) return fail(res, 400, 'invalid_request', 'Invalid parameter credentialID');
      // The SAD from credentials/authorize, or a credential-scoped OAuth token (as SAD, or in the Authorization header).
      let sadKey: string | undefined;
      if (typeof body.SAD === 'string') sadKey = sads.has(body.SAD) ? body.SAD : tokens.get(body.SAD)?.scope === 'credential' ? tokens.get(body.SAD)!.sad : undefined;
      else if (auth.scope === 'credential') sadKey = auth.sad;
      const sad = sadKey ? sads.get(sadKey) : undefined;
      if (!sad) return fail(res, 400, 'invalid_request', 'Invalid parameter SAD');
      if (sad.expires < Date.now()) return fail(res, 400, 'invalid_request', 'SAD expired');
      if (sad.credentialID !== c.id) return fail(res, 400, 'invalid_request', 'The SAD was issued for another credential');
      const hashes = Array.isArray(body.hashes) ? (body.hashes as string[]) : [];
      if (body.hashAlgorithmOID !== SHA256) return fail(res, 400, 'invalid_request', 'Invalid parameter hashAlgorithmOID');
      if (body.signAlgo !== RSA && body.signAlgo !== SHA256_RSA) return fail(res, 400, 'invalid_request', 'Invalid parameter signAlgo');
      if (hashes.length > sad.remaining) return fail(res, 400, 'invalid_request', 'Number of signatures exceeds the authorization');
      for (const h of hashes) if (!sad.hashes.get(h)) return fail(res, 400, 'invalid_request', 'Hash is not authorized by the SAD');
      const signatures = hashes.map((h) => {
        sad.hashes.set(h, sad.hashes.get(h)! - 1);
        sad.remaining--;
        let digest = Buffer.from(h, 'base64');
        if (knobs.signOtherHash) digest = createHash('sha256').update(digest).digest();
        return privateEncrypt({ key: c.key, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([DIGEST_INFO, digest])).toString('base64');
      });
      return json(res, 200, { signatures });
    }
    return fail(res, 404, 'invalid_request', `Unknown method ${path}`);
  });

  /** The provider's login page (GET) and its submission (POST): the browser part of oauth2code. */
  function oauthAuthorize(req: IncomingMessage, res: ServerResponse, url: URL, body: Record<string, unknown>) {
    const q = req.method === 'GET' ? Object.fromEntries(url.searchParams) : (body as Record<string, string>);
    const back = (params: Record<string, string>) => {
      res.writeHead(302, { location: `${q.redirect_uri}?${new URLSearchParams({ ...params, ...(q.state ? { state: q.state } : {}) })}` });
      res.end();
    };
    if (q.client_id !== oauthClient.id || q.redirect_uri !== oauthClient.redirectUri) return fail(res, 400, 'invalid_request', 'Unknown client_id or redirect_uri');
    if (q.response_type !== 'code' || !q.code_challenge || q.code_challenge_method !== 'S256') return back({ error: 'invalid_request', error_description: 'response_type=code and PKCE S256 are required' });
    if (q.scope !== 'service' && q.scope !== 'credential') return back({ error: 'invalid_scope', error_description: 'scope must be service or credential' });
    const hashes = q.scope === 'credential' ? String(q.hashes ?? '').split(',').filter(Boolean).map((h) => Buffer.from(h, 'base64url').toString('base64')) : undefined;
    if (q.scope === 'credential' && (!q.credentialID || hashes!.length !== Number(q.numSignatures))) return back({ error: 'invalid_request', error_description: 'credentialID, numSignatures and hashes are required for scope credential' });
    if (req.method === 'GET') {
      const hidden = Object.entries(q)
        .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(String(v))}">`)
        .join('');
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html lang="de"><title>Anmeldung Test-Vertrauensdienst</title><link rel="icon" href="data:,"><h1>Test-Vertrauensdienst</h1>
<p>${q.scope === 'credential' ? `Freigabe von ${esc(String(q.numSignatures))} Signatur(en) mit ${esc(String(q.credentialID))}` : 'Anmeldung'}</p>
<form method="post" action="${base}/oauth2/authorize">${hidden}
<label>Benutzer <input name="username"></label><label>Passwort <input name="password" type="password"></label>
${q.scope === 'credential' ? '<label>PIN <input name="pin" type="password"></label>' : ''}
<button name="decision" value="allow">Freigeben</button><button name="decision" value="deny">Abbrechen</button></form>`);
      return;
    }
    if (q.decision === 'deny') return back({ error: 'access_denied', error_description: 'The user denied the request' });
    if (users.get(String(q.username)) !== q.password) return back({ error: 'access_denied', error_description: 'Login failed' });
    if (q.scope === 'credential') {
      const c = credentials.get(String(q.credentialID));
      if (!c || c.owner !== q.username) return back({ error: 'invalid_request', error_description: 'Invalid parameter credentialID' });
      if (q.pin !== c.pin) return back({ error: 'access_denied', error_description: 'The PIN is invalid' });
    }
    const code = newToken();
    codes.set(code, { user: String(q.username), scope: q.scope as 'service' | 'credential', clientId: String(q.client_id), redirectUri: String(q.redirect_uri), challenge: String(q.code_challenge), credentialID: q.credentialID as string | undefined, numSignatures: q.numSignatures ? Number(q.numSignatures) : undefined, hashes, expires: Date.now() + 120_000 });
    back({ code });
  }

  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const root = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const base = `${root}/csc/v2`;
  return {
    url: root,
    base,
    ca,
    knobs,
    log,
    users,
    oauthClient,
    count: (path) => log.filter((l) => l.path === path).length,
    failAtSignHash: (n) => {
      knobs.failSignHashAt = n === undefined ? undefined : signHashCalls + n;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
