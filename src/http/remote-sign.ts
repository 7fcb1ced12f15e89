/**
 * Remote qualified signing from a county signatory's personal link (CSC API v2, oauth2code):
 *
 *   1. "Qualifiziert elektronisch unterschreiben (Fernsignatur)" → the provider's login
 *      (oauth2/authorize, scope=service, PKCE) → back here with a code → the service token;
 *   2. the signatory's usable credentials (credentials/list); with several, they choose one;
 *   3. the document is prepared with that credential's certificate (stamp, byte range, signed
 *      attributes) → the provider again (scope=credential, credentialID, numSignatures=1, the
 *      hash), where they authorise exactly this signature → back here → oauth2/token gives the
 *      credential authorisation → signatures/signHash → the signature is committed to their field.
 *
 * Flows live in this process's memory for 15 minutes, keyed by the OAuth `state` (random, 256
 * bits): tokens from the provider are never written to disk. Nothing is stored for the envelope
 * until the last step; any failure leaves the link as it was.
 */
import { randomBytes } from 'node:crypto';
import { browserAuthorizedSigner, CscClient, cscConfig, pkce, usableCredentials, type CredentialInfo } from '../sign/csc.ts';
import { SignerError } from '../sign/signer.ts';
import { NotYourTurnError, type PendingLinkSignature, type SignOutcome } from '../envelope/service.ts';
import type { AppContext } from './context.ts';
import { sha256Hex } from '../digest.ts';

const TTL_MS = 15 * 60_000;
/** The cookie that binds a flow to the browser that started it (SameSite=Lax: the provider's redirect back is a cross-site navigation). */
export const REMOTE_COOKIE = 'zv_fernsignatur';
const sha256 = (s: string) => sha256Hex(s);

export interface RemoteForm {
  place: string;
  date: string;
  backdateReason?: string;
  image?: Uint8Array;
}

interface Flow {
  state: string;
  /** SHA-256 of the random value in the browser's cookie: the flow continues only in the browser that began it. */
  binding: string;
  /** The personal link token the flow belongs to. */
  token: string;
  phase: 'service' | 'choose' | 'credential';
  verifier: string;
  form: RemoteForm;
  created: number;
  serviceToken?: string;
  credentials?: { credentialID: string; label: string; info: CredentialInfo }[];
  pending?: PendingLinkSignature;
  authorizeWith?: (token: string, expiresIn?: number) => void;
}

export type RemoteStep =
  | { kind: 'redirect'; url: string }
  | { kind: 'choose'; state: string; token: string; credentials: { credentialID: string; label: string }[] }
  | { kind: 'done'; token: string; outcome: SignOutcome }
  | { kind: 'failed'; token: string; message: string };

export class RemoteFlowError extends Error {}

export class RemoteSigning {
  private flows = new Map<string, Flow>();
  private oauthBase?: Promise<string>;
  /** Origins the signing page's forms may lead to (CSP form-action): the service and its OAuth server. */
  readonly origins = new Set<string>();

  constructor(private readonly ctx: AppContext, private readonly env: NodeJS.ProcessEnv = process.env) {
    try {
      this.origins.add(new URL(cscConfig(env).baseUrl).origin);
    } catch {
      /* not configured */
    }
  }

  private client(): CscClient {
    return new CscClient(cscConfig(this.env));
  }

  /** The OAuth server (info.oauth2), fetched once; its origin joins the allowed form targets. */
  private base(): Promise<string> {
    this.oauthBase ??= this.client()
      .oauth2Base()
      .then((b) => {
        this.origins.add(new URL(b).origin);
        return b;
      })
      .catch((e) => {
        this.oauthBase = undefined;
        throw e;
      });
    return this.oauthBase;
  }

  private notices = new Map<string, { text: string; at: number }>();

  /** A message for the signing page of `token`, shown once (after a failed round trip to the provider). */
  setNotice(token: string, text: string): void {
    this.notices.set(token, { text, at: Date.now() });
  }

  takeNotice(token: string): string | undefined {
    const n = this.notices.get(token);
    this.notices.delete(token);
    return n && Date.now() - n.at < TTL_MS ? n.text : undefined;
  }

  /** Learns the OAuth server in the background (so the first form already may go there). */
  warmUp(): void {
    void this.base().catch(() => {});
  }

  private sweep(): void {
    const now = Date.now();
    for (const [k, f] of this.flows) if (now - f.created > TTL_MS) this.flows.delete(k);
  }

  private take(state: string, browser: string | undefined): Flow {
    this.sweep();
    const flow = this.flows.get(state);
    if (!flow) throw new RemoteFlowError('Diese Fernsignatur ist abgelaufen oder unbekannt (nach 15 Minuten verfällt sie). Bitte öffnen Sie Ihren persönlichen Link und starten Sie die Unterschrift neu.');
    // A provider URL handed to someone else must not put their signature into the starter's field.
    if (!browser || sha256(browser) !== flow.binding) {
      throw new RemoteFlowError('Diese Fernsignatur wurde in einem anderen Browser begonnen. Bitte öffnen Sie Ihren persönlichen Link in diesem Browser und starten Sie die Unterschrift dort.');
    }
    return flow;
  }

  private redirectFor(flow: Flow, p: { scope: 'service' } | { scope: 'credential'; credentialID: string; hash: Uint8Array }, base: string, description: string): RemoteStep {
    const { verifier, challenge } = pkce();
    flow.verifier = verifier;
    const url = this.client().oauth2AuthorizeUrl(base, {
      scope: p.scope,
      state: flow.state,
      codeChallenge: challenge,
      ...(p.scope === 'credential' ? { credentialID: p.credentialID, hashes: [p.hash] } : {}),
      description,
    });
    return { kind: 'redirect', url };
  }

  /**
   * Step 1: the signatory asked for a remote signature with these stamp details. Returns where
   * the browser goes and the value for its binding cookie (REMOTE_COOKIE).
   */
  async start(token: string, form: RemoteForm): Promise<{ step: RemoteStep; browser: string }> {
    this.sweep();
    const view = await this.ctx.svc.openLink(token); // a valid link (throws otherwise) …
    if (!view.canSign) throw new NotYourTurnError(`Sie können erst unterzeichnen, wenn ${view.waitingFor.map((s) => `${s.name} (${s.role})`).join(' und ')} unterzeichnet ${view.waitingFor.length > 1 ? 'haben' : 'hat'}.`); // … and their turn
    const browser = randomBytes(32).toString('base64url');
    const flow: Flow = { state: randomBytes(32).toString('base64url'), binding: sha256(browser), token, phase: 'service', verifier: '', form, created: Date.now() };
    this.flows.set(flow.state, flow);
    return { step: this.redirectFor(flow, { scope: 'service' }, await this.base(), 'Anmeldung für die Unterschrift unter einer Zielvereinbarung (Zielwerk)'), browser };
  }

  /** The provider sent the browser back (with a code, or an error). */
  async callback(q: { state?: string; code?: string; error?: string; error_description?: string }, browser: string | undefined): Promise<RemoteStep> {
    const flow = this.take(q.state ?? '', browser);
    if (q.error || !q.code) {
      this.flows.delete(flow.state);
      const why = q.error === 'access_denied' ? 'abgebrochen oder abgelehnt' : 'nicht erfolgreich';
      return { kind: 'failed', token: flow.token, message: `Die Fernsignatur wurde beim Anbieter ${why}${q.error_description ? ` („${q.error_description}“)` : ''}. Es wurde nichts unterzeichnet; Sie können es erneut versuchen.` };
    }
    try {
      const client = this.client();
      const base = await this.base();
      const { access_token, expires_in } = await client.oauth2Token(base, q.code, flow.verifier);
      if (flow.phase === 'service') {
        flow.serviceToken = access_token;
        const credentials = usableCredentials(await client.credentialsList(access_token));
        if (credentials.length === 0) throw new SignerError('Bei Ihrem Anbieter ist kein nutzbares Signaturzertifikat hinterlegt (gesperrt, abgelaufen oder keins vorhanden).', 'certificate');
        flow.credentials = credentials;
        if (credentials.length > 1) {
          flow.phase = 'choose';
          return { kind: 'choose', state: flow.state, token: flow.token, credentials: credentials.map(({ credentialID, label }) => ({ credentialID, label })) };
        }
        return await this.prepare(flow, credentials[0]!.credentialID);
      }
      if (flow.phase !== 'credential' || !flow.pending || !flow.authorizeWith) throw new RemoteFlowError('Diese Fernsignatur ist in einem unerwarteten Zustand; bitte starten Sie sie neu.');
      flow.authorizeWith(access_token, expires_in);
      const signer = flow.pending.step.prepared.signer;
      const session = await signer.authorize([flow.pending.digest]);
      this.flows.delete(flow.state);
      const outcome = await this.ctx.svc.completeLinkSignature(flow.pending, session);
      return { kind: 'done', token: flow.token, outcome };
    } catch (err) {
      this.flows.delete(flow.state);
      return failedStep(flow.token, err);
    }
  }

  /** Step 2 with several credentials: the one they chose. */
  async choose(state: string, credentialID: string, browser: string | undefined): Promise<RemoteStep> {
    const flow = this.take(state, browser);
    if (flow.phase !== 'choose') throw new RemoteFlowError('Diese Fernsignatur erwartet keine Auswahl; bitte starten Sie sie neu.');
    try {
      return await this.prepare(flow, credentialID);
    } catch (err) {
      this.flows.delete(flow.state);
      return failedStep(flow.token, err);
    }
  }

  /** Step 3: prepare the document with the credential's certificate; send them to authorise its hash. */
  private async prepare(flow: Flow, credentialID: string): Promise<RemoteStep> {
    const chosen = flow.credentials?.find((c) => c.credentialID === credentialID);
    if (!chosen) throw new RemoteFlowError('Dieses Zertifikat steht nicht zur Auswahl.');
    const client = this.client();
    const info = await client.credentialsInfo(flow.serviceToken!, credentialID);
    const { signer, authorizeWith } = browserAuthorizedSigner(client, flow.serviceToken!, credentialID, info);
    flow.pending = await this.ctx.svc.prepareLinkSignature(flow.token, { ...flow.form, signer });
    flow.authorizeWith = authorizeWith;
    flow.phase = 'credential';
    const a = flow.pending.step.snap.agreement;
    return this.redirectFor(flow, { scope: 'credential', credentialID, hash: flow.pending.digest }, await this.base(), `Unterschrift: ${a.title}`);
  }
}

/** A refusal on the way (provider, link, envelope) as a failed step; programming errors propagate. */
function failedStep(token: string, err: unknown): RemoteStep {
  if (!(err instanceof Error) || err instanceof TypeError || err instanceof RangeError) throw err;
  return { kind: 'failed', token, message: `${err.message}${/nichts unterzeichnet/.test(err.message) ? '' : ' Es wurde nichts unterzeichnet.'}` };
}

const instances = new WeakMap<AppContext, RemoteSigning>();

/** The flows of this app (one per context). */
export function remoteSigning(ctx: AppContext): RemoteSigning {
  let r = instances.get(ctx);
  if (!r) {
    r = new RemoteSigning(ctx);
    instances.set(ctx, r);
  }
  return r;
}
