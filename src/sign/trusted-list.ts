/**
 * EU trusted lists (ETSI TS 119 612): which CAs are qualified trust services. A list is accepted
 * only if its XML signature (XMLDSig, xml-crypto) verifies with the scheme operator's certificate
 * the administrator names (`--signer`), and only what that signature covers is read: the signed
 * reference must be the whole list, so nothing outside the signature (a wrapped element) counts.
 * Services of type CA/QC whose current status is "granted" become qualified trust anchors.
 */
import { X509Certificate } from 'node:crypto';
import { DOMParser } from '@xmldom/xmldom';
import { SignedXml } from 'xml-crypto';
import { TrustError } from '../store/trust.ts';

/** A TrustError, so every caller that refuses trust problems refuses these too. */
export class TrustedListError extends TrustError {}

const TSL_NS = 'http://uri.etsi.org/02231/v2#';
const DS_NS = 'http://www.w3.org/2000/09/xmldsig#';
export const SERVICE_CA_QC = 'http://uri.etsi.org/TrstSvc/Svctype/CA/QC';
export const STATUS_GRANTED = 'http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted';

export interface TrustedListService {
  provider: string;
  name: string;
  type: string;
  status: string;
  certificates: Uint8Array[];
}

export interface TrustedList {
  territory: string;
  sequence: string;
  issued: string;
  nextUpdate: string;
  services: TrustedListService[];
  /** The CA/QC services with status granted: their certificates. */
  qualifiedAnchors: { provider: string; service: string; der: Uint8Array }[];
}

const text = (el: Element | undefined | null) => (el?.textContent ?? '').trim();
const child = (el: Element, ns: string, name: string): Element | undefined => Array.from(el.getElementsByTagNameNS(ns, name))[0] as Element | undefined;
const children = (el: Element, ns: string, name: string): Element[] => Array.from(el.getElementsByTagNameNS(ns, name)) as Element[];

/** Verifies the list's signature with `signerPem` and reads the signed content. */
export function readTrustedList(xml: string, signerPem: string): TrustedList {
  let signer: X509Certificate;
  try {
    signer = new X509Certificate(signerPem);
  } catch (e) {
    throw new TrustedListError(`--signer is not a PEM certificate: ${(e as Error).message}`);
  }
  const errors: string[] = [];
  const doc = new DOMParser({ onError: (level, msg) => (level !== 'warning' ? errors.push(msg) : undefined) }).parseFromString(xml, 'text/xml');
  const root = doc.documentElement as unknown as Element | null;
  if (errors.length || !root) throw new TrustedListError(`not an XML document: ${errors[0] ?? 'empty'}`);
  if (root.localName !== 'TrustServiceStatusList' || root.namespaceURI !== TSL_NS) throw new TrustedListError(`not an ETSI TS 119 612 trusted list (root element ${root.localName} in ${root.namespaceURI})`);
  const signatures = children(root, DS_NS, 'Signature').filter((s) => s.parentNode === root);
  if (signatures.length !== 1) throw new TrustedListError(`the trusted list must carry exactly one enveloped XML signature, it has ${signatures.length}`);

  const sig = new SignedXml({ publicCert: signer.toString(), getCertFromKeyInfo: () => null });
  sig.loadSignature(signatures[0] as unknown as Node);
  let valid = false;
  try {
    valid = sig.checkSignature(xml);
  } catch (e) {
    // xml-crypto throws (rather than answering false) for a wrong signature value or digest.
    if (!/invalid signature|signature value|digest/i.test((e as Error).message)) throw new TrustedListError(`the trusted list's signature cannot be checked: ${(e as Error).message}`);
  }
  if (!valid) throw new TrustedListError(`the trusted list's signature does not verify with the certificate given by --signer (${signer.subject.split('\n').join(', ')}): refused`);
  // Only the signed content counts, and it must be the whole list (URI "" or the root's Id).
  const signed = sig.getSignedReferences();
  const refs = sig.getReferences();
  const rootId = root.getAttribute('Id');
  if (signed.length !== 1 || refs.length !== 1 || !(refs[0]!.uri === '' || (rootId && refs[0]!.uri === `#${rootId}`))) {
    throw new TrustedListError('the signature does not cover the whole trusted list: refused');
  }
  const signedDoc = new DOMParser().parseFromString(signed[0]!, 'text/xml').documentElement as unknown as Element;
  if (!signedDoc || signedDoc.localName !== 'TrustServiceStatusList') throw new TrustedListError('the signed content is not the trusted list: refused');

  const scheme = child(signedDoc, TSL_NS, 'SchemeInformation');
  const services: TrustedListService[] = [];
  for (const tsp of children(signedDoc, TSL_NS, 'TrustServiceProvider')) {
    const provider = text(child(child(tsp, TSL_NS, 'TSPName') ?? tsp, TSL_NS, 'Name'));
    for (const service of children(tsp, TSL_NS, 'TSPService')) {
      const info = child(service, TSL_NS, 'ServiceInformation');
      if (!info) continue;
      const certificates = children(info, TSL_NS, 'X509Certificate').map((c) => new Uint8Array(Buffer.from(text(c).replace(/\s+/g, ''), 'base64')));
      services.push({
        provider,
        name: text(child(child(info, TSL_NS, 'ServiceName') ?? info, TSL_NS, 'Name')),
        type: text(child(info, TSL_NS, 'ServiceTypeIdentifier')),
        // The current status is the ServiceInformation's own (history entries come later, in ServiceHistory).
        status: text(Array.from(info.childNodes).find((n) => (n as Element).localName === 'ServiceStatus') as Element | undefined),
        certificates,
      });
    }
  }
  const qualifiedAnchors = services
    .filter((s) => s.type === SERVICE_CA_QC && s.status === STATUS_GRANTED)
    .flatMap((s) =>
      s.certificates.map((der) => {
        try {
          new X509Certificate(der);
        } catch (e) {
          throw new TrustedListError(`service "${s.name}" of ${s.provider} carries an unreadable certificate: ${(e as Error).message}`);
        }
        return { provider: s.provider, service: s.name, der };
      }),
    );
  return {
    territory: text(scheme ? child(scheme, TSL_NS, 'SchemeTerritory') : undefined),
    sequence: text(scheme ? child(scheme, TSL_NS, 'TSLSequenceNumber') : undefined),
    issued: text(scheme ? child(scheme, TSL_NS, 'ListIssueDateTime') : undefined),
    nextUpdate: text(scheme ? child(child(scheme, TSL_NS, 'NextUpdate') ?? scheme, TSL_NS, 'dateTime') : undefined),
    services,
    qualifiedAnchors,
  };
}
