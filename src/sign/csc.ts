/**
 * Remote signing at a trust service provider over the Cloud Signature Consortium API v2
 * ("Architectures and protocols for remote signature applications", 2.0.0.2): the signatory's
 * key stays at the provider; we send SHA-256 digests and receive signature values.
 *
 *   info                      what the service offers (its OAuth 2.0 server, algorithms)
 *   auth/login                service authorisation with HTTP Basic (ZV_CSC_USER/ZV_CSC_PASSWORD),
 *                             or a bearer token given as ZV_CSC_TOKEN
 *   credentials/list|info     the credential's certificate chain, key algorithm and authMode
 *   credentials/authorize     explicit mode: PIN (ZV_CSC_PIN) and OTP (ZV_CSC_OTP) for exactly
 *                             numSignatures = n and the n hashes → Signature Activation Data (SAD)
 *   signatures/signHash       one call per document, so a failure at document k leaves the others
 *   oauth2/authorize|token    oauth2code mode for the web: the user authorises at the provider;
 *                             scope=service gives the service token, scope=credential (with
 *                             credentialID, numSignatures, hashes) the credential authorisation
 *
 * Errors of the service ({ error, error_description }) become SignerErrors that quote the service.
 */
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { pssParameters } from './cms.ts';
import { checkedSession, ecdsaRawToDer, SIGNER_KIND_LABELS, SignerError, type SignatureScheme, type Signer, type SignerErrorCode } from './signer.ts';

export const CSC_OID = {
  sha256: '2.16.840.1.101.3.4.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  sha256WithRSA: '1.2.840.113549.1.1.11',
  rsassaPss: '1.2.840.113549.1.1.10',
  ecPublicKey: '1.2.840.10045.2.1',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
} as const;

export interface CscConfig {
  /** Base URL including the version path, e.g. https://tsp.example/csc/v2 */
  baseUrl: string;
  user?: string;
  password?: string;
  token?: string;
  pin?: string;
  otp?: string;
  clientId?: string;
  clientSecret?: string;
  redirectUri?: string;
  timeoutMs: number;
}

/** ZV_CSC_* settings (overrides for what a user typed, e.g. the PIN in a web form). */
export function cscConfig(env: NodeJS.ProcessEnv, overrides: { pin?: string; otp?: string } = {}): CscConfig {
  const baseUrl = (env.ZV_CSC_URL ?? '').trim().replace(/\/+$/, '');
  if (!baseUrl) throw new SignerError('Für die Fernsignatur fehlt ZV_CSC_URL (Basis-URL des CSC-Dienstes, z. B. https://tsp.example/csc/v2).', 'bad-uri');
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new SignerError(`ZV_CSC_URL ist keine gültige URL: ${baseUrl}`, 'bad-uri');
  }
  const production = env.ZV_ENV === 'production' || env.NODE_ENV === 'production';
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && (loopback || !production))) {
    throw new SignerError(`ZV_CSC_URL muss im Betrieb https:// verwenden (PIN und Signaturen laufen darüber): ${baseUrl}`, 'bad-uri');
  }
  const timeout = Number(env.ZV_CSC_TIMEOUT_MS ?? 30_000);
  return {
    baseUrl,
    user: env.ZV_CSC_USER || undefined,
    password: env.ZV_CSC_PASSWORD || undefined,
    token: env.ZV_CSC_TOKEN || undefined,
    pin: overrides.pin || env.ZV_CSC_PIN || undefined,
    otp: overrides.otp || env.ZV_CSC_OTP || undefined,
    clientId: env.ZV_CSC_CLIENT_ID || undefined,
    clientSecret: env.ZV_CSC_CLIENT_SECRET || undefined,
    redirectUri: env.ZV_CSC_REDIRECT_URI || undefined,
    timeoutMs: Number.isFinite(timeout) && timeout > 0 ? timeout : 30_000,
  };
}

/** The parts of credentials/info we use. */
export interface CredentialInfo {
  description?: string;
  signatureQualifier?: string;
  key: { status: string; algo: string[]; len?: number; curve?: string };
  cert?: { status?: string; certificates?: string[]; issuerDN?: string; serialNumber?: string; subjectDN?: string; validFrom?: string; validTo?: string };
  auth?: { mode: 'explicit' | 'oauth2code' | 'implicit'; expression?: string; objects?: { type: string; id: string; format?: string; label?: string }[] };
  /** Older v2 drafts and v1 name it authMode. */
  authMode?: 'explicit' | 'oauth2code' | 'implicit';
  scal?: string;
  multisign?: number;
}

const ERROR_CODES: Record<string, SignerErrorCode> = { invalid_pin: 'pin-incorrect', invalid_otp: 'pin-incorrect', invalid_token: 'not-authorised', access_denied: 'not-authorised' };

export class CscClient {
  constructor(readonly config: CscConfig) {}

  private get host(): string {
    return new URL(this.config.baseUrl).host;
  }

  /** POST <base>/<method> with a JSON body; the service's error object becomes a SignerError. */
  async call<T>(method: string, body: object, auth?: string): Promise<T> {
    return this.request<T>(`${this.config.baseUrl}/${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
      body: JSON.stringify(body),
    }, method);
  }

  private async request<T>(url: string, init: RequestInit, what: string): Promise<T> {
    let res: Response;
    try {
      res = await fetch(url, { ...init, signal: AbortSignal.timeout(this.config.timeoutMs), redirect: 'error' });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      if (err.name === 'TimeoutError' || err.name === 'AbortError') {
        throw new SignerError(`Der Fernsignaturdienst ${this.host} antwortet nicht (${what}: keine Antwort nach ${Math.round(this.config.timeoutMs / 1000)} s). Es wurde nichts unterzeichnet.`, 'service-unavailable', { cause: e });
      }
      throw new SignerError(`Der Fernsignaturdienst ${this.host} ist nicht erreichbar (${what}: ${err.cause?.code ?? err.cause?.message ?? err.message}). Es wurde nichts unterzeichnet.`, 'service-unavailable', { cause: e });
    }
    const text = await res.text().catch(() => '');
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const o = (json ?? {}) as { error?: string; error_description?: string };
      const code: SignerErrorCode = /expired/i.test(o.error_description ?? '') && /SAD/i.test(o.error_description ?? '') ? 'sad-expired' : (ERROR_CODES[o.error ?? ''] ?? (res.status >= 500 ? 'service-unavailable' : 'service-error'));
      const detail = o.error ? `„${o.error_description ?? o.error}“ (${o.error}, HTTP ${res.status})` : `HTTP ${res.status}`;
      if (code === 'pin-incorrect') throw new SignerError(`Der Fernsignaturdienst ${this.host} hat die PIN bzw. das Einmalpasswort abgelehnt: ${detail}. Es wurde nichts unterzeichnet.`, code);
      if (code === 'sad-expired') throw new SignerError(`Die Freigabe (SAD) beim Fernsignaturdienst ${this.host} ist abgelaufen: ${detail}. Bitte erneut freigeben; noch nicht signierte Dokumente sind unberührt.`, code);
      throw new SignerError(`Der Fernsignaturdienst ${this.host} lehnt ab (${what}): ${detail}.`, code);
    }
    if (json === undefined || typeof json !== 'object' || json === null) throw new SignerError(`Der Fernsignaturdienst ${this.host} antwortet auf ${what} nicht mit JSON.`, 'service-error');
    return json as T;
  }

  info(): Promise<{ specs?: string; name?: string; oauth2?: string; authType?: string[]; methods?: string[] }> {
    return this.call('info', { lang: 'de' });
  }

  /** The service access token: ZV_CSC_TOKEN, else auth/login with HTTP Basic. */
  async serviceToken(): Promise<string> {
    if (this.config.token) return this.config.token;
    if (!this.config.user || !this.config.password) {
      throw new SignerError('Für die Fernsignatur fehlt die Anmeldung beim Dienst: ZV_CSC_TOKEN oder ZV_CSC_USER und ZV_CSC_PASSWORD setzen.', 'not-authorised');
    }
    const basic = Buffer.from(`${this.config.user}:${this.config.password}`).toString('base64');
    const r = await this.call<{ access_token?: string }>('auth/login', {}, `Basic ${basic}`);
    if (!r.access_token) throw new SignerError('auth/login des Fernsignaturdienstes lieferte kein access_token.', 'service-error');
    return r.access_token;
  }

  credentialsList(token: string): Promise<{ credentialIDs: string[]; credentialInfos?: (CredentialInfo & { credentialID: string })[] }> {
    return this.call('credentials/list', { credentialInfo: true, certificates: 'chain', certInfo: true, authInfo: true }, `Bearer ${token}`);
  }

  credentialsInfo(token: string, credentialID: string): Promise<CredentialInfo> {
    return this.call('credentials/info', { credentialID, certificates: 'chain', certInfo: true, authInfo: true, lang: 'de' }, `Bearer ${token}`);
  }

  /** credentials/authorize (explicit mode) → SAD and its lifetime. */
  async authorize(token: string, credentialID: string, hashes: Uint8Array[], authData: { id: string; value: string }[]): Promise<{ SAD: string; expiresIn: number }> {
    const r = await this.call<{ SAD?: string; expiresIn?: number }>(
      'credentials/authorize',
      { credentialID, numSignatures: hashes.length, hashes: hashes.map(b64), hashAlgorithmOID: CSC_OID.sha256, ...(authData.length ? { authData } : {}), description: 'Zielwerk: Zielvereinbarung(en) unterzeichnen' },
      `Bearer ${token}`,
    );
    if (!r.SAD) throw new SignerError('credentials/authorize des Fernsignaturdienstes lieferte keine SAD.', 'service-error');
    return { SAD: r.SAD, expiresIn: typeof r.expiresIn === 'number' ? r.expiresIn : 3600 };
  }

  async signHash(token: string, p: { credentialID: string; SAD: string; hashes: Uint8Array[]; signAlgo: string; signAlgoParams?: string }): Promise<Uint8Array[]> {
    const r = await this.call<{ signatures?: string[] }>(
      'signatures/signHash',
      { credentialID: p.credentialID, SAD: p.SAD, hashes: p.hashes.map(b64), hashAlgorithmOID: CSC_OID.sha256, signAlgo: p.signAlgo, ...(p.signAlgoParams ? { signAlgoParams: p.signAlgoParams } : {}) },
      `Bearer ${token}`,
    );
    if (!Array.isArray(r.signatures) || r.signatures.length !== p.hashes.length) {
      throw new SignerError(`signatures/signHash lieferte ${Array.isArray(r.signatures) ? r.signatures.length : 'keine'} statt ${p.hashes.length} Signaturen.`, 'service-error');
    }
    return r.signatures.map((s) => new Uint8Array(Buffer.from(s, 'base64')));
  }

  /** The OAuth 2.0 server: info.oauth2 when the service names one, else the service itself. */
  async oauth2Base(): Promise<string> {
    const i = await this.info();
    return (i.oauth2 ?? this.config.baseUrl).replace(/\/+$/, '');
  }

  /** oauth2/authorize URL for the user's browser (PKCE S256). */
  oauth2AuthorizeUrl(base: string, p: { scope: 'service' | 'credential'; state: string; codeChallenge: string; credentialID?: string; hashes?: Uint8Array[]; description?: string }): string {
    const { clientId, redirectUri } = this.requireClient();
    const q = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope: p.scope, code_challenge: p.codeChallenge, code_challenge_method: 'S256', state: p.state, lang: 'de' });
    if (p.scope === 'credential') {
      q.set('credentialID', p.credentialID!);
      q.set('numSignatures', String(p.hashes!.length));
      q.set('hashes', p.hashes!.map((h) => Buffer.from(h).toString('base64url')).join(','));
      q.set('hashAlgorithmOID', CSC_OID.sha256);
    }
    if (p.description) q.set('description', p.description.slice(0, 500));
    return `${base}/oauth2/authorize?${q}`;
  }

  /** oauth2/token: the authorisation code → access token (service token, or the credential authorisation). */
  async oauth2Token(base: string, code: string, verifier: string): Promise<{ access_token: string; expires_in?: number }> {
    const { clientId, clientSecret, redirectUri } = this.requireClient();
    const r = await this.request<{ access_token?: string; expires_in?: number }>(
      `${base}/oauth2/token`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, client_id: clientId, ...(clientSecret ? { client_secret: clientSecret } : {}), redirect_uri: redirectUri, code_verifier: verifier }),
      },
      'oauth2/token',
    );
    if (!r.access_token) throw new SignerError('oauth2/token des Fernsignaturdienstes lieferte kein access_token.', 'service-error');
    return { access_token: r.access_token, expires_in: r.expires_in };
  }

  private requireClient(): { clientId: string; clientSecret?: string; redirectUri: string } {
    const { clientId, clientSecret, redirectUri } = this.config;
    if (!clientId || !redirectUri) throw new SignerError('Für die Fernsignatur im Browser fehlen ZV_CSC_CLIENT_ID und ZV_CSC_REDIRECT_URI.', 'bad-uri');
    return { clientId, clientSecret, redirectUri };
  }
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

/** PKCE pair (RFC 7636, S256). */
export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** A credential's certificate chain, scheme and signAlgo, checked for use. */
export function credentialMaterial(credentialID: string, info: CredentialInfo, wanted?: SignatureScheme): { certificate: Uint8Array; chain: Uint8Array[]; scheme: SignatureScheme; signAlgo: string; signAlgoParams?: string } {
  if (info.key?.status && info.key.status !== 'enabled') throw new SignerError(`Der Schlüssel des Credentials „${credentialID}“ ist beim Anbieter gesperrt (Status ${info.key.status}).`, 'pin-locked');
  if (info.cert?.status && info.cert.status !== 'valid') throw new SignerError(`Das Zertifikat des Credentials „${credentialID}“ ist laut Anbieter nicht gültig (Status ${info.cert.status}).`, 'certificate');
  const certs = (info.cert?.certificates ?? []).map((c) => new Uint8Array(Buffer.from(c, 'base64')));
  if (!certs.length) throw new SignerError(`Der Fernsignaturdienst liefert zum Credential „${credentialID}“ kein Zertifikat.`, 'certificate');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certs[0]!);
  } catch (e) {
    throw new SignerError(`Das Zertifikat des Credentials „${credentialID}“ ist nicht lesbar: ${(e as Error).message}`, 'certificate');
  }
  const algos = info.key?.algo ?? [];
  const type = leaf.publicKey.asymmetricKeyType;
  if (type === 'ec') {
    const signAlgo = algos.includes(CSC_OID.ecdsaWithSHA256) ? CSC_OID.ecdsaWithSHA256 : algos.includes(CSC_OID.ecPublicKey) ? CSC_OID.ecPublicKey : undefined;
    if (!signAlgo) throw new SignerError(`Das Credential „${credentialID}“ bietet kein ECDSA-Verfahren an (${algos.join(', ')}).`, 'unsupported-key');
    return { certificate: certs[0]!, chain: certs.slice(1), scheme: 'ecdsa', signAlgo };
  }
  if (type !== 'rsa') throw new SignerError(`Schlüsseltyp ${type} des Credentials „${credentialID}“ wird nicht unterstützt.`, 'unsupported-key');
  const pss = wanted === 'rsa-pss' || (!algos.includes(CSC_OID.rsaEncryption) && !algos.includes(CSC_OID.sha256WithRSA) && algos.includes(CSC_OID.rsassaPss));
  if (pss) {
    if (!algos.includes(CSC_OID.rsassaPss)) throw new SignerError(`Das Credential „${credentialID}“ bietet kein RSA-PSS an.`, 'unsupported-key');
    return { certificate: certs[0]!, chain: certs.slice(1), scheme: 'rsa-pss', signAlgo: CSC_OID.rsassaPss, signAlgoParams: PSS_PARAMS_BASE64 };
  }
  const signAlgo = algos.includes(CSC_OID.rsaEncryption) ? CSC_OID.rsaEncryption : algos.includes(CSC_OID.sha256WithRSA) ? CSC_OID.sha256WithRSA : undefined;
  if (!signAlgo) throw new SignerError(`Das Credential „${credentialID}“ bietet kein RSA-Verfahren an (${algos.join(', ')}).`, 'unsupported-key');
  return { certificate: certs[0]!, chain: certs.slice(1), scheme: 'rsa-pkcs1', signAlgo };
}

/** RSASSA-PSS-params as in our SignerInfo, base64 (signAlgoParams). */
const PSS_PARAMS_BASE64 = Buffer.from(pssParameters()).toString('base64');

/** A signature value from the service: DER for ECDSA (some services answer raw r‖s, which may start with 0x30 too). */
export function normaliseSignature(scheme: SignatureScheme, value: Uint8Array): Uint8Array {
  if (scheme !== 'ecdsa' || isDerEcdsa(value)) return value;
  return value.length === 64 || value.length === 96 || value.length === 132 ? ecdsaRawToDer(value) : value;
}

/** Exactly SEQUENCE { INTEGER r, INTEGER s } filling the whole value. */
function isDerEcdsa(v: Uint8Array): boolean {
  if (v.length < 8 || v[0] !== 0x30) return false;
  let i = 1;
  let len = v[i++]!;
  if (len & 0x80) {
    if (len !== 0x81) return false;
    len = v[i++]!;
  }
  if (i + len !== v.length) return false;
  for (let k = 0; k < 2; k++) {
    if (v[i++] !== 0x02) return false;
    const l = v[i++]!;
    if (l === 0 || l > 0x7f || i + l > v.length) return false;
    i += l;
  }
  return i === v.length;
}

/**
 * A signer for a credential the service authorises in explicit mode (PIN and/or OTP typed by the
 * user or given in the environment) or implicitly. One authorize() is one credentials/authorize
 * for all digests; each sign() is one signatures/signHash.
 */
export async function openCscSigner(credentialID: string, config: CscConfig, opts: { scheme?: SignatureScheme; /** A person authorises in this moment (web form): explicit mode with a PIN, nothing taken from the environment. */ interactive?: boolean } = {}): Promise<Signer> {
  if (!credentialID.trim()) throw new SignerError('--key csc:<credentialID>: die Credential-ID fehlt.', 'bad-uri');
  const client = new CscClient(config);
  const token = await client.serviceToken();
  const info = await client.credentialsInfo(token, credentialID);
  const material = credentialMaterial(credentialID, info, opts.scheme);
  const mode = info.auth?.mode ?? info.authMode ?? 'explicit';
  if (mode === 'oauth2code') {
    throw new SignerError(`Das Credential „${credentialID}“ wird beim Anbieter im Browser freigegeben (oauth2code); unterschreiben Sie über die Web-Oberfläche.`, 'not-authorised');
  }
  const objects = info.auth?.objects ?? [{ type: 'Password', id: 'PIN' }];
  if (opts.interactive && (mode !== 'explicit' || !objects.some((o) => o.id.toUpperCase() === 'PIN'))) {
    throw new SignerError(`Das Credential „${credentialID}“ wird ohne PIN freigegeben (${mode}); für die Unterschrift im Ministerium ist eine PIN-Freigabe nötig.`, 'not-authorised');
  }
  const leaf = new X509Certificate(material.certificate);
  const signer: Signer = {
    kind: 'csc',
    description: `${SIGNER_KIND_LABELS.csc}: ${new URL(config.baseUrl).host}, Credential „${credentialID}“ (${leaf.subject.split('\n').find((l) => l.startsWith('CN='))?.slice(3) ?? leaf.subject})`,
    certificate: material.certificate,
    chain: material.chain,
    scheme: material.scheme,
    async authorize(digests) {
      // multisign limits the hashes per signHash call; we send one per call, so any batch size works.
      const authData: { id: string; value: string }[] = [];
      if (mode === 'explicit') {
        for (const o of objects) {
          const id = o.id.toUpperCase();
          const value = id === 'OTP' ? config.otp : id === 'PIN' ? config.pin : undefined;
          if (!value) throw new SignerError(`Der Fernsignaturdienst verlangt ${o.label ?? o.id} für das Credential „${credentialID}“: ${id === 'OTP' ? 'ZV_CSC_OTP' : 'ZV_CSC_PIN'} setzen bzw. eingeben.`, 'pin-missing');
          authData.push({ id: o.id, value });
        }
      }
      const { SAD, expiresIn } = await client.authorize(token, credentialID, digests, authData);
      const expires = Date.now() + expiresIn * 1000;
      return checkedSession(signer, digests, {
        async sign(item) {
          if (Date.now() >= expires) throw new SignerError('Die Freigabe (SAD) des Fernsignaturdienstes ist abgelaufen; bitte erneut freigeben. Die übrigen Dokumente sind unberührt.', 'sad-expired');
          const [value] = await client.signHash(token, { credentialID, SAD, hashes: [item.digest], signAlgo: material.signAlgo, signAlgoParams: material.signAlgoParams });
          return normaliseSignature(material.scheme, value!);
        },
        async close() {},
      });
    },
  };
  return signer;
}

/**
 * A credential authorised in the browser (oauth2code): the signer knows its certificate now; the
 * credential authorisation (the access token of scope "credential", bound to the hashes) arrives
 * later from oauth2/token and is handed to `authorizeWith`. signHash then carries it as SAD, as
 * CSC v2 allows for credential-scoped tokens, next to the service token.
 */
export function browserAuthorizedSigner(client: CscClient, serviceToken: string, credentialID: string, info: CredentialInfo): { signer: Signer; authorizeWith(credentialToken: string, expiresIn?: number): void } {
  const material = credentialMaterial(credentialID, info);
  const leaf = new X509Certificate(material.certificate);
  let granted: { token: string; expires: number } | undefined;
  const signer: Signer = {
    kind: 'csc',
    description: `${SIGNER_KIND_LABELS.csc}: ${new URL(client.config.baseUrl).host}, Credential „${credentialID}“ (${leaf.subject.split('\n').find((l) => l.startsWith('CN='))?.slice(3) ?? leaf.subject}), freigegeben beim Anbieter`,
    certificate: material.certificate,
    chain: material.chain,
    scheme: material.scheme,
    async authorize(digests) {
      if (!granted) throw new SignerError('Die Freigabe beim Anbieter fehlt noch.', 'not-authorised');
      const { token, expires } = granted;
      return checkedSession(signer, digests, {
        async sign(item) {
          if (Date.now() >= expires) throw new SignerError('Die Freigabe beim Fernsignaturdienst ist abgelaufen; bitte erneut unterschreiben.', 'sad-expired');
          const [value] = await client.signHash(serviceToken, { credentialID, SAD: token, hashes: [item.digest], signAlgo: material.signAlgo, signAlgoParams: material.signAlgoParams });
          return normaliseSignature(material.scheme, value!);
        },
        async close() {},
      });
    },
  };
  return {
    signer,
    authorizeWith(token, expiresIn = 300) {
      granted = { token, expires: Date.now() + expiresIn * 1000 };
    },
  };
}

/** Credentials a signatory can use now: key enabled, certificate valid, with a certificate to show. */
export function usableCredentials(list: Awaited<ReturnType<CscClient['credentialsList']>>): { credentialID: string; label: string; info: CredentialInfo }[] {
  return (list.credentialInfos ?? [])
    .filter((c) => (!c.key?.status || c.key.status === 'enabled') && (!c.cert?.status || c.cert.status === 'valid') && (c.cert?.certificates?.length ?? 0) > 0)
    .map((c) => ({ credentialID: c.credentialID, label: `${c.description ?? c.credentialID}${c.cert?.subjectDN ? ` (${c.cert.subjectDN})` : ''}`, info: c }));
}
