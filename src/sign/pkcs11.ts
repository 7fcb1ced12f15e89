/**
 * PKCS#11 signer: a key on a signature card or HSM, named by an RFC 7512 URI, e.g.
 *
 *   pkcs11:token=Ministerium;object=klose?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin
 *
 * The private key never leaves the device: we find it, log in once (the one PIN entry of a
 * batch), and ask the token to sign each digest (CKM_RSA_PKCS over a DigestInfo, CKM_RSA_PKCS_PSS,
 * or CKM_ECDSA). The certificate comes from the token (a certificate object with the key's
 * CKA_ID, else its label) or from the caller (--certificate, --chain). Keys that demand the PIN
 * for every signature (CKA_ALWAYS_AUTHENTICATE, as many QES cards do) get it again from the one
 * entry, per signature, with a context-specific login.
 *
 * Uses graphene-pk11 (over pkcs11js, both PeculiarVentures), loaded only when a pkcs11: URI is used.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { checkedSession, defaultScheme, ecdsaRawToDer, SIGNER_KIND_LABELS, SignerError, PSS_SALT_LENGTH, type SignatureScheme, type Signer } from './signer.ts';

type Graphene = typeof import('graphene-pk11');
type Session = import('graphene-pk11').Session;
type PrivateKey = import('graphene-pk11').PrivateKey;

export interface Pkcs11Uri {
  /** Path attributes (token, object, id, serial, manufacturer, model, slot-id, type), decoded. */
  path: Partial<Record<PathAttribute, string>>;
  /** CKA_ID bytes, when `id` is given. */
  id?: Buffer;
  modulePath?: string;
  pinSource?: string;
  pinValue?: string;
}

const PATH_ATTRIBUTES = ['token', 'object', 'id', 'serial', 'manufacturer', 'model', 'slot-id', 'type', 'library-manufacturer', 'library-description', 'library-version', 'slot-description', 'slot-manufacturer'] as const;
type PathAttribute = (typeof PATH_ATTRIBUTES)[number];
const QUERY_ATTRIBUTES = ['module-path', 'module-name', 'pin-source', 'pin-value'] as const;

function decode(value: string, what: string): Buffer {
  if (/%(?![0-9a-fA-F]{2})/.test(value)) throw new SignerError(`PKCS#11-URI: ungültige Prozentkodierung in ${what}`, 'bad-uri');
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '%') {
      bytes.push(parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...Buffer.from(value[i]!, 'utf8'));
  }
  return Buffer.from(bytes);
}

/** Parses an RFC 7512 PKCS#11 URI; unknown attributes are refused (a typo must not pick another key). */
export function parsePkcs11Uri(text: string): Pkcs11Uri {
  const m = /^pkcs11:([^?]*)(?:\?(.*))?$/.exec(text.trim());
  if (!m) throw new SignerError(`--key: eine PKCS#11-URI beginnt mit „pkcs11:“, z. B. pkcs11:token=Ministerium;object=klose?module-path=/usr/lib/softhsm/libsofthsm2.so`, 'bad-uri');
  const uri: Pkcs11Uri = { path: {} };
  for (const part of m[1]!.split(';').filter(Boolean)) {
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)) as PathAttribute;
    if (!PATH_ATTRIBUTES.includes(name)) throw new SignerError(`PKCS#11-URI: unbekanntes Attribut „${name}“ (bekannt: ${PATH_ATTRIBUTES.join(', ')})`, 'bad-uri');
    const raw = decode(eq < 0 ? '' : part.slice(eq + 1), name);
    if (name === 'id') uri.id = raw;
    uri.path[name] = raw.toString('utf8');
  }
  for (const part of (m[2] ?? '').split('&').filter(Boolean)) {
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    if (!(QUERY_ATTRIBUTES as readonly string[]).includes(name)) throw new SignerError(`PKCS#11-URI: unbekannter Parameter „${name}“ (bekannt: ${QUERY_ATTRIBUTES.join(', ')})`, 'bad-uri');
    const value = decode(eq < 0 ? '' : part.slice(eq + 1), name).toString('utf8');
    if (name === 'module-path') uri.modulePath = value;
    if (name === 'module-name') uri.modulePath ??= value;
    if (name === 'pin-source') uri.pinSource = value;
    if (name === 'pin-value') uri.pinValue = value;
  }
  if (uri.path.type && uri.path.type !== 'private') throw new SignerError(`PKCS#11-URI: type=${uri.path.type} ist kein privater Schlüssel (type=private oder weglassen)`, 'bad-uri');
  if (!uri.path.object && !uri.id) throw new SignerError('PKCS#11-URI: object=<Bezeichnung> oder id=<CKA_ID> des Schlüssels fehlt', 'bad-uri');
  return uri;
}

/** The URI without secrets, for messages and the audit trail. */
export function describePkcs11Uri(uri: Pkcs11Uri): string {
  const parts = Object.entries(uri.path).map(([k, v]) => `${k}=${k === 'id' ? uri.id!.toString('hex') : v}`);
  return `pkcs11:${parts.join(';')}`;
}

function readPin(uri: Pkcs11Uri, given: string | undefined, env: NodeJS.ProcessEnv): string {
  if (uri.pinValue !== undefined) return uri.pinValue;
  if (uri.pinSource !== undefined) {
    const path = uri.pinSource.startsWith('file:') ? fileURLToPath(new URL(uri.pinSource.replace(/^file:(?!\/\/)/, 'file://'))) : uri.pinSource;
    try {
      return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new SignerError(`Die PIN-Datei ${path} lässt sich nicht lesen (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`, 'pin-missing');
    }
  }
  if (given !== undefined && given !== '') return given;
  if (env.ZV_PKCS11_PIN) return env.ZV_PKCS11_PIN;
  throw new SignerError('Keine PIN für den PKCS#11-Token: pin-source=file:… oder pin-value=… in der URI, oder ZV_PKCS11_PIN setzen.', 'pin-missing');
}

// Login state in PKCS#11 belongs to the application, not to a session: while one signer is logged
// in, a second login would be accepted without checking its PIN, and one logout ends both. So a
// token serves one signer at a time in this process.
const tokensInUse = new Set<string>();

// One module instance per library path and process (C_Initialize may run once per process).
const modules = new Map<string, { module: import('graphene-pk11').Module; users: number }>();

async function loadModule(path: string): Promise<{ graphene: Graphene; module: import('graphene-pk11').Module; release: () => void }> {
  const graphene = (await import('graphene-pk11')).default ?? (await import('graphene-pk11'));
  let entry = modules.get(path);
  if (!entry) {
    let module;
    try {
      module = graphene.Module.load(path, 'zielwerk');
      module.initialize();
    } catch (e) {
      throw new SignerError(`Das PKCS#11-Modul ${path} lässt sich nicht laden: ${(e as Error).message}`, 'module', { cause: e });
    }
    entry = { module, users: 0 };
    modules.set(path, entry);
  }
  entry.users++;
  let released = false;
  return {
    graphene,
    module: entry.module,
    release() {
      if (released) return;
      released = true;
      const e = modules.get(path);
      if (e && --e.users === 0) {
        modules.delete(path);
        try {
          e.module.finalize();
        } catch {
          /* already finalised */
        }
      }
    },
  };
}

const pkcs11Code = (e: unknown) => (e instanceof Error ? (/CKR_[A-Z_]+/.exec(e.message)?.[0] ?? e.message) : String(e));

/** German text for the return values a user can do something about. */
function loginError(e: unknown, token: string): SignerError {
  const code = pkcs11Code(e);
  if (code === 'CKR_PIN_INCORRECT') return new SignerError(`Die PIN für den Token „${token}“ ist falsch. Es wurde nichts unterzeichnet.`, 'pin-incorrect', { cause: e });
  if (code === 'CKR_PIN_LOCKED') return new SignerError(`Der Token „${token}“ ist gesperrt (zu viele falsche PIN-Eingaben). Entsperren Sie ihn mit der PUK bzw. beim Administrator. Es wurde nichts unterzeichnet.`, 'pin-locked', { cause: e });
  if (code === 'CKR_PIN_LEN_RANGE') return new SignerError(`Die PIN für den Token „${token}“ hat eine unzulässige Länge. Es wurde nichts unterzeichnet.`, 'pin-incorrect', { cause: e });
  if (code === 'CKR_USER_PIN_NOT_INITIALIZED') return new SignerError(`Für den Token „${token}“ ist noch keine Benutzer-PIN gesetzt.`, 'pin-locked', { cause: e });
  return new SignerError(`Anmeldung am Token „${token}“ fehlgeschlagen: ${code}`, 'module', { cause: e });
}

export interface Pkcs11Options {
  /** The PIN typed by the user (web form); the URI's pin-value/pin-source win, ZV_PKCS11_PIN is the fallback. */
  pin?: string;
  /** DER certificate, when the token holds none for the key. */
  certificate?: Uint8Array;
  /** DER intermediates, nearest first. */
  chain?: Uint8Array[];
  /** RSA only: PSS instead of PKCS#1 v1.5. */
  scheme?: SignatureScheme;
  env?: NodeJS.ProcessEnv;
}

/** A signer that holds a logged-in session: close it with dispose(). */
export interface Pkcs11Signer extends Signer {
  dispose(): Promise<void>;
}

/**
 * Opens the token, logs in with the PIN (the one PIN entry) and finds key and certificate. Every
 * refusal (unknown token or object, wrong PIN, locked token, certificate not matching the key) is
 * a SignerError before any document is touched.
 */
export async function openPkcs11Signer(uriText: string, opts: Pkcs11Options = {}): Promise<Pkcs11Signer> {
  const env = opts.env ?? process.env;
  const uri = parsePkcs11Uri(uriText);
  const modulePath = uri.modulePath ?? env.ZV_PKCS11_MODULE;
  if (!modulePath) throw new SignerError('PKCS#11-URI: module-path=<Pfad zur .so-Bibliothek> fehlt (oder ZV_PKCS11_MODULE setzen)', 'bad-uri');
  const pin = readPin(uri, opts.pin, env);
  const { graphene, module, release } = await loadModule(modulePath);
  let session: Session | undefined;
  let held: string | undefined;
  try {
    const slots = module.getSlots(true);
    const tokens: { slot: import('graphene-pk11').Slot; label: string }[] = [];
    for (let i = 0; i < slots.length; i++) {
      const slot = slots.items(i);
      const t = slot.getToken();
      const label = t.label.trim();
      const p = uri.path;
      if (p.token !== undefined && label !== p.token) continue;
      if (p.serial !== undefined && t.serialNumber.trim() !== p.serial) continue;
      if (p.manufacturer !== undefined && t.manufacturerID.trim() !== p.manufacturer) continue;
      if (p.model !== undefined && t.model.trim() !== p.model) continue;
      if (p['slot-id'] !== undefined && String(slot.handle.readUIntLE(0, slot.handle.length)) !== p['slot-id']) continue;
      tokens.push({ slot, label });
    }
    if (tokens.length === 0) {
      const present: string[] = [];
      for (let i = 0; i < slots.length; i++) {
        const label = slots.items(i).getToken().label.trim();
        if (label) present.push(`„${label}“`);
      }
      throw new SignerError(`Kein Token „${uri.path.token ?? '?'}“ gefunden${present.length ? ` (vorhanden: ${present.join(', ')})` : ' (kein initialisierter Token vorhanden)'}.`, 'token-not-found');
    }
    if (tokens.length > 1) throw new SignerError(`Mehrere Token passen zu ${describePkcs11Uri(uri)}; geben Sie serial=… an.`, 'token-not-found');
    const { slot, label } = tokens[0]!;
    const tokenKey = `${modulePath}#${slot.handle.toString('hex')}`;
    if (tokensInUse.has(tokenKey)) throw new SignerError(`Der Token „${label}“ wird gerade für eine andere Unterzeichnung verwendet; bitte versuchen Sie es gleich noch einmal.`, 'busy');
    tokensInUse.add(tokenKey);
    held = tokenKey;
    if (slot.getToken().flags & graphene.TokenFlag.USER_PIN_LOCKED) {
      throw new SignerError(`Der Token „${label}“ ist gesperrt (zu viele falsche PIN-Eingaben). Entsperren Sie ihn mit der PUK bzw. beim Administrator. Es wurde nichts unterzeichnet.`, 'pin-locked');
    }
    session = slot.open(graphene.SessionFlag.SERIAL_SESSION);
    try {
      session.login(pin, graphene.UserType.USER);
    } catch (e) {
      if (pkcs11Code(e) !== 'CKR_USER_ALREADY_LOGGED_IN') throw loginError(e, label);
      // Logged in by someone else in this process (outside Zielwerk's signers): this PIN must be checked too.
      try {
        session.logout();
        session.login(pin, graphene.UserType.USER);
      } catch (e2) {
        throw loginError(e2, label);
      }
    }

    const template: Record<string, unknown> = { class: graphene.ObjectClass.PRIVATE_KEY };
    if (uri.path.object !== undefined) template.label = uri.path.object;
    if (uri.id) template.id = uri.id;
    const found = session.find(template as never);
    const keyName = `Schlüssel ${uri.path.object !== undefined ? `„${uri.path.object}“` : `mit id ${uri.id!.toString('hex')}`}`;
    const what = `${keyName} auf dem Token „${label}“`;
    if (found.length === 0) throw new SignerError(`Kein ${what} gefunden.`, 'object-not-found');
    if (found.length > 1) throw new SignerError(`Mehrere Objekte passen: ${what}; geben Sie zusätzlich id=… an.`, 'object-not-found');
    const key = found.items(0).toType<PrivateKey>();
    const keyId = key.id;
    const keyLabel = key.label;
    const isRsa = key.type === graphene.KeyType.RSA;
    const isEc = key.type === graphene.KeyType.EC || key.type === graphene.KeyType.ECDSA;
    if (!isRsa && !isEc) throw new SignerError(`Der ${what} hat einen nicht unterstützten Typ (RSA oder ECDSA P-256/P-384).`, 'unsupported-key');
    let alwaysAuthenticate = false;
    try {
      alwaysAuthenticate = !!key.alwaysAuthenticate;
    } catch {
      /* attribute not supported by the token */
    }

    // The certificate: given by the caller, else the token's certificate object with the key's id (or label).
    let certificate = opts.certificate;
    if (!certificate) {
      const byId = keyId?.length ? session.find({ class: graphene.ObjectClass.CERTIFICATE, id: keyId } as never) : null;
      const candidates = byId && byId.length ? byId : session.find({ class: graphene.ObjectClass.CERTIFICATE, label: keyLabel } as never);
      if (candidates.length === 0) throw new SignerError(`Auf dem Token „${label}“ liegt kein Zertifikat zum ${keyName}; geben Sie es mit --certificate <pem> an.`, 'certificate');
      certificate = new Uint8Array(candidates.items(0).toType<import('graphene-pk11').X509Certificate>().value);
    }
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(certificate);
    } catch (e) {
      throw new SignerError(`Das Zertifikat zum ${what} ist kein lesbares X.509-Zertifikat: ${(e as Error).message}`, 'certificate');
    }
    const certType = cert.publicKey.asymmetricKeyType;
    if ((isRsa && certType !== 'rsa') || (isEc && certType !== 'ec')) {
      throw new SignerError(`Das Zertifikat (${cert.subject.split('\n').join(', ')}) gehört nicht zum ${what}: Schlüsseltypen verschieden.`, 'key-mismatch');
    }
    checkPublicKey(session, graphene, keyId, keyLabel, cert, what, isRsa);

    const scheme = opts.scheme ?? defaultScheme(cert);
    if (scheme === 'rsa-pss' && !isRsa) throw new SignerError('RSA-PSS geht nur mit RSA-Schlüsseln.', 'unsupported-key');
    if (isEc) {
      const curve = (cert.publicKey.asymmetricKeyDetails as { namedCurve?: string }).namedCurve;
      if (curve !== 'prime256v1' && curve !== 'secp384r1') throw new SignerError(`Die Kurve ${curve} wird nicht unterstützt (P-256 oder P-384).`, 'unsupported-key');
    }

    const open = session;
    const signWith = (digest: Uint8Array): Uint8Array => {
      if (alwaysAuthenticate) {
        try {
          open.login(pin, graphene.UserType.CONTEXT_SPECIFIC);
        } catch (e) {
          throw loginError(e, label);
        }
      }
      try {
        if (scheme === 'ecdsa') return ecdsaRawToDer(new Uint8Array(open.createSign('ECDSA', key).once(Buffer.from(digest))));
        if (scheme === 'rsa-pss') {
          const params = new graphene.RsaPssParams(graphene.MechanismEnum.SHA256, graphene.RsaMgf.MGF1_SHA256, PSS_SALT_LENGTH);
          return new Uint8Array(open.createSign({ name: 'RSA_PKCS_PSS', params }, key).once(Buffer.from(digest)));
        }
        return new Uint8Array(open.createSign('RSA_PKCS', key).once(Buffer.concat([SHA256_DIGEST_INFO, digest])));
      } catch (e) {
        if (e instanceof SignerError) throw e;
        throw new SignerError(`Der Token „${label}“ hat die Signatur verweigert: ${pkcs11Code(e)}`, 'module', { cause: e });
      }
    };

    let disposed = false;
    const signer: Pkcs11Signer = {
      kind: 'pkcs11',
      description: `${SIGNER_KIND_LABELS.pkcs11}: Token „${label}“, Schlüssel „${keyLabel || keyId.toString('hex')}“`,
      certificate,
      chain: opts.chain ?? [],
      scheme,
      async authorize(digests) {
        if (disposed) throw new SignerError('Die Sitzung mit dem Token ist bereits beendet.', 'module');
        // The login above was the authorisation; the checked session allows exactly these digests.
        return checkedSession(signer, digests, { sign: async (item) => signWith(item.digest), close: async () => {} });
      },
      async dispose() {
        if (disposed) return;
        disposed = true;
        try {
          open.logout();
        } catch {
          /* not logged in */
        }
        try {
          open.close();
        } catch {
          /* closed */
        }
        if (held) tokensInUse.delete(held);
        release();
      },
    };
    return signer;
  } catch (e) {
    try {
      session?.logout();
    } catch {
      /* not logged in */
    }
    try {
      session?.close();
    } catch {
      /* ignore */
    }
    if (held) tokensInUse.delete(held);
    release();
    throw e;
  }
}

/** DER prefix of a DigestInfo for SHA-256 (RFC 8017 9.2 note 1); CKM_RSA_PKCS signs DigestInfo ‖ digest. */
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/** If the token has the key's public key, it must be the certificate's (a wrong --certificate is refused before signing). */
function checkPublicKey(session: Session, graphene: Graphene, id: Buffer, label: string, cert: X509Certificate, what: string, isRsa: boolean): void {
  const byId = id?.length ? session.find({ class: graphene.ObjectClass.PUBLIC_KEY, id } as never) : null;
  const list = byId && byId.length ? byId : session.find({ class: graphene.ObjectClass.PUBLIC_KEY, label } as never);
  if (list.length !== 1) return; // no public key object: the signature check after signing catches a mismatch
  const jwk = cert.publicKey.export({ format: 'jwk' }) as { n?: string; e?: string; x?: string; y?: string };
  const pub = list.items(0);
  let same: boolean;
  if (isRsa) {
    const a = pub.getAttribute({ modulus: null, publicExponent: null }) as { modulus: Buffer; publicExponent: Buffer };
    const strip = (b: Buffer) => b.subarray(b.findIndex((x) => x !== 0));
    same = strip(a.modulus).equals(strip(Buffer.from(jwk.n!, 'base64url'))) && strip(a.publicExponent).equals(strip(Buffer.from(jwk.e!, 'base64url')));
  } else {
    const a = pub.getAttribute({ pointEC: null }) as { pointEC: Buffer };
    const point = Buffer.concat([Buffer.of(4), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
    same = a.pointEC.subarray(a.pointEC.length - point.length).equals(point);
  }
  if (!same) throw new SignerError(`Das Zertifikat (${cert.subject.split('\n').join(', ')}) gehört nicht zum ${what}.`, 'key-mismatch');
}
