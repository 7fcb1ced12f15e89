/**
 * RFC 3161 time stamping: an in-process TSA (tests, demo, `--tsa local`), an HTTP client for a
 * real TSA, and a helper that issues a time-stamping certificate from a local CA.
 */
import { createHash, createPublicKey, generateKeyPair as generateKeyPairCallback, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import * as pkijs from 'pkijs';
import { buildSignedData, certificateParts, CmsError, der, DIGESTS, firstElement, OID, parseTimeStampToken, sha256, signSha256, toHex } from './cms.ts';
import type { SigningIdentity, TimestampAuthority } from './identity.ts';

const generateKeyPair = promisify(generateKeyPairCallback);

export class TsaError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TsaError';
  }
}

/**
 * Default policy of the local TSA. A demonstration OID under the private-enterprise arc
 * 1.3.6.1.4.1.99999 — not registered to anyone, it marks tokens as coming from a local demo TSA,
 * not from a qualified trust service.
 */
export const DEMO_TSA_POLICY = '1.3.6.1.4.1.99999.1.1';

/** PKIStatus values (RFC 3161 2.4.2). */
const STATUS = ['granted', 'grantedWithMods', 'rejection', 'waiting', 'revocationWarning', 'revocationNotification'];
/** PKIFailureInfo bits (RFC 3161 2.4.2). */
const FAILURE: Record<number, string> = {
  0: 'badAlg',
  2: 'badRequest',
  5: 'badDataFormat',
  14: 'timeNotAvailable',
  15: 'unacceptedPolicy',
  16: 'unacceptedExtension',
  17: 'addInfoNotAvailable',
  25: 'systemFailure',
};

function checkDigest(digest: Uint8Array, algorithm: string): void {
  if (algorithm !== 'SHA-256') throw new TsaError(`unsupported time-stamp digest algorithm ${algorithm} (only SHA-256)`);
  if (!(digest instanceof Uint8Array) || digest.length !== 32) throw new TsaError(`a SHA-256 digest has 32 bytes, got ${digest?.length}`);
}

/** A PKIFailureInfo BIT STRING with one bit set (DER: trailing zero bits dropped). */
function failureBits(bit: number): Uint8Array {
  const bytes = new Uint8Array((bit >> 3) + 1);
  bytes[bit >> 3] = 0x80 >> (bit & 7);
  return der.bitString(bytes, 7 - (bit & 7));
}

function rejection(bit: number, text: string): Uint8Array {
  return der.seq(der.seq(der.smallInteger(2), der.seq(der.utf8String(text)), failureBits(bit)));
}

/** The subject common name of a DER certificate, for messages. */
function subjectOf(certificate: Uint8Array): string {
  try {
    return new X509Certificate(certificate).subject.replace(/\n/g, ', ');
  } catch {
    return '(unparsable certificate)';
  }
}

/**
 * An in-process RFC 3161 TSA (no network). Signs TSTInfo structures with its own identity, whose
 * certificate must carry extKeyUsage id-kp-timeStamping (see createTsaIdentity).
 */
export class LocalTimestampAuthority implements TimestampAuthority {
  private readonly clock: () => Date;
  readonly policy: string;

  constructor(
    private readonly identity: SigningIdentity,
    opts: { clock?: () => Date; /** default DEMO_TSA_POLICY, a demo OID */ policy?: string } = {},
  ) {
    this.clock = opts.clock ?? (() => new Date());
    this.policy = opts.policy ?? DEMO_TSA_POLICY;
    if (!/^[0-2](\.(0|[1-9]\d*))+$/.test(this.policy)) throw new TsaError(`invalid TSA policy OID "${this.policy}"`);
    let usages: string[] | undefined;
    try {
      usages = new X509Certificate(identity.certificate).keyUsage; // node: the extended key usages
    } catch (err) {
      throw new TsaError(`the TSA certificate cannot be parsed: ${(err as Error).message}`);
    }
    if (!usages?.includes(OID.kpTimeStamping)) {
      throw new TsaError(`the TSA certificate (${subjectOf(identity.certificate)}) lacks extKeyUsage id-kp-timeStamping`);
    }
  }

  /** A DER TimeStampToken over `digest`, with the TSA certificate included. */
  async timestamp(digest: Uint8Array, algorithm: 'SHA-256'): Promise<Uint8Array> {
    checkDigest(digest, algorithm);
    return this.issue(der.seq(der.algorithm(OID.sha256), der.octetString(digest)), null, true);
  }

  /**
   * Answers a DER TimeStampReq (as received over HTTP) with a DER TimeStampResp: granted, or a
   * rejection with a failure reason for malformed or unsupported requests.
   */
  async respond(requestDer: Uint8Array): Promise<Uint8Array> {
    let request: pkijs.TimeStampReq;
    try {
      request = pkijs.TimeStampReq.fromBER(Uint8Array.from(firstElement(requestDer, 'TimeStampReq').bytes));
    } catch (err) {
      return rejection(5, `malformed TimeStampReq: ${(err as Error).message.replace(/^TimeStampReq: /, '')}`);
    }
    if (request.version !== 1) return rejection(2, `unsupported TimeStampReq version ${request.version}`);
    const algorithm = request.messageImprint.hashAlgorithm.algorithmId;
    const digest = DIGESTS[algorithm];
    if (!digest || digest.length < 32) return rejection(0, `unsupported hash algorithm ${algorithm} (SHA-256, SHA-384 or SHA-512 accepted)`);
    if (request.messageImprint.hashedMessage.valueBlock.valueHexView.length !== digest.length) return rejection(5, `the ${digest.name} imprint must have ${digest.length} bytes`);
    if (request.reqPolicy !== undefined && request.reqPolicy !== this.policy) return rejection(15, `policy ${request.reqPolicy} is not offered (only ${this.policy})`);
    if (request.extensions?.length) return rejection(16, 'request extensions are not supported');
    // Echo the imprint and the nonce as received.
    const imprint = new Uint8Array(request.messageImprint.toSchema().toBER());
    const nonce = request.nonce ? der.tlv(0x02, request.nonce.valueBlock.valueHexView) : null;
    try {
      const token = await this.issue(imprint, nonce, request.certReq === true);
      return der.seq(der.seq(der.smallInteger(0)), token);
    } catch (err) {
      return rejection(25, (err as Error).message);
    }
  }

  private async issue(messageImprint: Uint8Array, nonce: Uint8Array | null, includeCertificate: boolean): Promise<Uint8Array> {
    const serial = der.unsignedInteger(randomBytes(16)); // 128 random bits: unique without state
    const now = this.clock();
    if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new TsaError('the TSA clock returned an invalid date');
    const tstInfo = der.seq(der.smallInteger(1), der.oid(this.policy), messageImprint, serial, der.generalizedTime(now), ...(nonce ? [nonce] : []));
    try {
      return await buildSignedData({ identity: this.identity, eContentType: OID.tstInfo, eContent: tstInfo, contentDigest: sha256(tstInfo), includeCertificates: includeCertificate });
    } catch (err) {
      if (err instanceof CmsError) throw new TsaError(`the local TSA cannot sign: ${err.message}`, { cause: err });
      throw err;
    }
  }
}

/**
 * Client for a real TSA over HTTP(S): POST application/timestamp-query, expects
 * application/timestamp-reply. Sends a nonce and certReq true; checks the status, the nonce, the
 * message imprint and the token's signature.
 */
export class HttpTimestampAuthority implements TimestampAuthority {
  private readonly timeoutMs: number;

  constructor(
    readonly url: string,
    opts: { timeoutMs?: number } = {},
  ) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new TsaError(`invalid time-stamp authority URL "${url}"`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TsaError(`the time-stamp authority URL must be http or https: ${url}`);
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  async timestamp(digest: Uint8Array, algorithm: 'SHA-256'): Promise<Uint8Array> {
    checkDigest(digest, algorithm);
    const nonce = randomBytes(8);
    const request = der.seq(der.smallInteger(1), der.seq(der.algorithm(OID.sha256), der.octetString(digest)), der.unsignedInteger(nonce), der.boolean(true));
    const where = `time-stamp authority ${this.url}`;

    let body: Uint8Array;
    let contentType: string | null;
    const signal = AbortSignal.timeout(this.timeoutMs);
    try {
      const response = await fetch(this.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/timestamp-query', Accept: 'application/timestamp-reply' },
        body: Uint8Array.from(request),
        signal,
      });
      if (!response.ok) {
        await response.body?.cancel().catch(() => undefined);
        throw new TsaError(`${where} answered HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
      }
      contentType = response.headers.get('content-type');
      body = new Uint8Array(await response.arrayBuffer());
    } catch (err) {
      if (err instanceof TsaError) throw err;
      if (signal.aborted) throw new TsaError(`${where} did not answer within ${this.timeoutMs} ms`, { cause: err });
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new TsaError(`cannot reach ${where}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, { cause: err });
    }

    let response: pkijs.TimeStampResp;
    let raw: ReturnType<typeof firstElement>;
    try {
      raw = firstElement(body, 'TimeStampResp');
      response = pkijs.TimeStampResp.fromBER(Uint8Array.from(raw.bytes));
    } catch {
      throw new TsaError(`${where} did not return a valid TimeStampResp (${body.length} bytes, content type ${contentType ?? 'none'})`);
    }
    const status = response.status.status as number;
    if (status !== 0 && status !== 1) {
      const text = (response.status.statusStrings ?? []).map((s) => s.valueBlock.value).join('; ');
      const failures = failureNames(response.status.failInfo);
      throw new TsaError(`${where} refused the request: status ${STATUS[status] ?? status}${failures.length ? ` (${failures.join(', ')})` : ''}${text ? `: ${text}` : ''}`);
    }
    // The token exactly as sent (the second element of the TimeStampResp SEQUENCE).
    const tokenNode = (raw.block.valueBlock.value as { valueBeforeDecodeView: Uint8Array }[] | undefined)?.[1];
    if (!response.timeStampToken || !tokenNode) throw new TsaError(`${where} granted the request but sent no time-stamp token`);
    const token = Uint8Array.from(tokenNode.valueBeforeDecodeView);

    let parsed: ReturnType<typeof parseTimeStampToken>;
    try {
      parsed = parseTimeStampToken(token);
    } catch (err) {
      throw new TsaError(`${where} returned a malformed time-stamp token: ${(err as Error).message}`, { cause: err });
    }
    if (!parsed.nonce || toHex(parsed.nonce) !== toHex(nonce).replace(/^(00)+(?=..)/, '')) {
      throw new TsaError(`${where} returned a token with a wrong or missing nonce (possibly a replayed answer)`);
    }
    if (parsed.imprintAlgorithm !== OID.sha256 || toHex(parsed.imprint) !== toHex(digest)) {
      throw new TsaError(`${where} returned a token for a different message imprint`);
    }
    if (!parsed.tsaCertificate) throw new TsaError(`${where} did not include its certificate in the token although it was requested`);
    if (!parsed.signatureValid) throw new TsaError(`${where} returned a token whose signature does not verify with its certificate (${subjectOf(parsed.tsaCertificate)})`);
    return token;
  }
}

function failureNames(bits: { valueBlock: { valueHexView: Uint8Array } } | undefined): string[] {
  if (!bits) return [];
  const bytes = bits.valueBlock.valueHexView;
  const names: string[] = [];
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    if (bytes[bit >> 3]! & (0x80 >> (bit & 7))) names.push(FAILURE[bit] ?? `failure bit ${bit}`);
  }
  return names;
}

/** SHA-1 over the subjectPublicKey BIT STRING contents (RFC 5280 4.2.1.2, method 1). */
function keyIdentifier(spki: Uint8Array): Uint8Array {
  const { block } = firstElement(spki, 'public key');
  const bitString = (block.valueBlock.value as { valueBeforeDecodeView: Uint8Array }[] | undefined)?.[1];
  if (!bitString) throw new TsaError('malformed public key');
  const content = firstElement(bitString.valueBeforeDecodeView).block.valueBlock.valueHexView; // without the unused-bits octet
  return new Uint8Array(createHash('sha1').update(content ?? new Uint8Array(0)).digest());
}

const extension = (id: string, critical: boolean, value: Uint8Array) => der.seq(der.oid(id), ...(critical ? [der.boolean(true)] : []), der.octetString(value));

/**
 * An identity for a local TSA issued by `ca`: ECDSA P-256 (RSA 2048 is unsuitable after 2025), extKeyUsage id-kp-timeStamping
 * (critical, the only usage), keyUsage digitalSignature (critical), valid for 10 years from an
 * hour ago (clock skew) but not beyond the CA certificate. The chain is [ca.certificate].
 */
export async function createTsaIdentity(ca: { certificate: Uint8Array; privateKey: KeyObject }, opts: { commonName?: string } = {}): Promise<SigningIdentity> {
  const caParts = certificateParts(ca.certificate);
  const { publicKey, privateKey } = await generateKeyPair('ec', { namedCurve: 'P-256' });
  const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
  const caKeyId = caParts.subjectKeyIdentifier ?? keyIdentifier(caParts.subjectPublicKeyInfo);

  const notBefore = new Date(Date.now() - 60 * 60 * 1000);
  const notAfter = new Date(notBefore);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + 10);
  const caNotAfter = new Date(new X509Certificate(caParts.der).validTo);
  if (caNotAfter < notAfter) notAfter.setTime(caNotAfter.getTime()); // never outlive the issuer
  const subject = der.seq(der.set(der.seq(der.oid(OID.commonName), der.utf8String(opts.commonName ?? 'Zielwerk Local Time-Stamping Authority (demo)'))));

  let signatureAlgorithm: Uint8Array;
  try {
    signatureAlgorithm = signSha256(new Uint8Array(0), ca.privateKey).algorithm;
  } catch (err) {
    throw new TsaError(`cannot sign with the CA key: ${(err as Error).message}`, { cause: err });
  }
  const tbs = der.seq(
    der.context(0, der.smallInteger(2)),
    der.unsignedInteger(randomBytes(16)),
    signatureAlgorithm,
    caParts.subject,
    der.seq(der.certificateTime(notBefore), der.certificateTime(notAfter)),
    subject,
    spki,
    der.context(
      3,
      der.seq(
        extension(OID.basicConstraints, true, der.seq()),
        extension(OID.keyUsage, true, der.bitString(Uint8Array.of(0x80), 7)), // digitalSignature
        extension(OID.extKeyUsage, true, der.seq(der.oid(OID.kpTimeStamping))),
        extension(OID.subjectKeyIdentifier, false, der.octetString(keyIdentifier(spki))),
        extension(OID.authorityKeyIdentifier, false, der.seq(der.tlv(0x80, caKeyId))),
      ),
    ),
  );
  const certificate = der.seq(tbs, signatureAlgorithm, der.bitString(signSha256(tbs, ca.privateKey).signature));
  const caPublicKey = createPublicKey({ key: Buffer.from(caParts.subjectPublicKeyInfo), format: 'der', type: 'spki' });
  if (!new X509Certificate(certificate).verify(caPublicKey)) throw new TsaError('the CA private key does not belong to the CA certificate');
  return { certificate, chain: [caParts.der], privateKey, source: 'demo-ca' };
}
