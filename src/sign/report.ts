/**
 * Human-readable verification report (German by default, English on request).
 */
import { formatSigningTime } from './sign.ts';
import { LEVEL_LABELS, writtenFormText, type SignatureReport, type Status, type VerifyReport } from './verify.ts';

type Lang = 'de' | 'en';

const L = {
  de: {
    document: 'Dokument',
    signatures: 'Signaturen',
    signature: 'Signatur',
    of: 'von',
    signer: 'Unterzeichner',
    certificate: 'Zertifikat',
    issuer: 'Aussteller',
    placeDate: 'Ort, Datum',
    signed: 'Signiert am',
    timestamp: 'Zeitstempel',
    claimed: '(Angabe des Unterzeichners)',
    integrity: 'Unversehrtheit (Prüfsumme)',
    cms: 'Signatur (CMS)',
    certAttr: 'Signaturzertifikat-Attribut',
    chain: 'Zertifikatskette',
    validAt: 'Zertifikat gültig zum Signaturzeitpunkt',
    covers: 'Umfasst das ganze Dokument',
    unchanged: 'Seitdem unverändert (nur erlaubte Ergänzungen)',
    generatorOnly: 'Signierte Fassung enthält nur, was Zielwerk erzeugt (keine Überlagerung, kein Zusatzfeld, kein verstecktes Objekt)',
    later: 'spätere Signaturen/Ergänzungen',
    pending: 'Noch nicht unterzeichnet',
    reproduction: 'Inhalt entspricht den eingebetteten Daten',
    problems: 'Befunde',
    verdict: 'Ergebnis',
    yes: 'ja',
    no: 'NEIN',
    trusted: 'vertrauenswürdig',
    untrusted: 'kein vertrauenswürdiger Aussteller',
    broken: 'ungültig',
    status: { valid: 'GÜLTIG', invalid: 'UNGÜLTIG', indeterminate: 'UNBESTIMMT (Vertrauen nicht nachweisbar)' } as Record<Status, string>,
    none: 'keine',
    indication: 'Ergebnis (ETSI EN 319 102-1)',
    certified: 'Laut Zertifikat',
    planned: 'vorgesehene/r Unterzeichnende/r',
    mismatch: 'NICHT die vorgesehene Person',
    level: 'Signaturniveau',
    timeOfProof: 'Maßgeblicher Zeitpunkt',
    sources: { timestamp: 'Signaturzeitstempel', 'document-timestamp': 'Dokumentzeitstempel', verification: 'Zeitpunkt der Prüfung – kein früherer Nachweis' } as Record<string, string>,
    pades: 'PAdES-Stufe',
    revocation: 'Sperrstatus',
    revocationStatus: { good: 'nicht gesperrt', revoked: 'GESPERRT', unknown: 'UNBEKANNT', 'not-checkable': 'nicht prüfbar (keine Sperrinformationsquelle im Zertifikat)' } as Record<string, string>,
    documentTimestamps: 'Dokumentzeitstempel (Archivzeitstempel)',
    provenAt: 'nachgewiesen',
    verifiedAt: 'Geprüft am',
    levels: LEVEL_LABELS as Record<string, string>,
    writtenForm: 'Schriftform',
    reproductionNote: '(informativ; kein Bestandteil der Gültigkeit)',
  },
  en: {
    document: 'Document',
    signatures: 'Signatures',
    signature: 'Signature',
    of: 'of',
    signer: 'Signer',
    certificate: 'Certificate',
    issuer: 'Issuer',
    placeDate: 'Place, date',
    signed: 'Signed at',
    timestamp: 'Time-stamp',
    claimed: "(signer's claim)",
    integrity: 'Integrity (digest)',
    cms: 'Signature (CMS)',
    certAttr: 'Signing-certificate attribute',
    chain: 'Certificate chain',
    validAt: 'Certificate valid at signing time',
    covers: 'Covers the whole document',
    unchanged: 'Unchanged since (allowed additions only)',
    generatorOnly: 'Signed revision holds only what Zielwerk generates (no overlay, no extra field, no hidden object)',
    later: 'later signatures/additions',
    pending: 'Not signed yet',
    reproduction: 'Content matches the embedded data',
    problems: 'Findings',
    verdict: 'Verdict',
    yes: 'yes',
    no: 'NO',
    trusted: 'trusted',
    untrusted: 'no trusted issuer',
    broken: 'invalid',
    status: { valid: 'VALID', invalid: 'INVALID', indeterminate: 'INDETERMINATE (trust not established)' } as Record<Status, string>,
    none: 'none',
    indication: 'Indication (ETSI EN 319 102-1)',
    certified: 'Per certificate',
    planned: 'the planned signatory',
    mismatch: 'NOT the planned signatory',
    level: 'Level',
    timeOfProof: 'Time relied on',
    sources: { timestamp: 'signature time-stamp', 'document-timestamp': 'document time-stamp', verification: 'time of verification – no earlier proof' } as Record<string, string>,
    pades: 'PAdES level',
    revocation: 'Revocation',
    revocationStatus: { good: 'not revoked', revoked: 'REVOKED', unknown: 'UNKNOWN', 'not-checkable': 'not checkable (the certificate names no CRL or OCSP service)' } as Record<string, string>,
    documentTimestamps: 'Document time-stamps (archive time-stamps)',
    provenAt: 'proven',
    verifiedAt: 'Verified at',
    levels: { simple: 'simple electronic signature', advanced: 'advanced electronic signature', qualified: 'qualified electronic signature' } as Record<string, string>,
    writtenForm: 'Written form',
    reproductionNote: '(informational; not part of validity)',
  },
};

function signatureLines(s: SignatureReport, i: number, n: number, t: (typeof L)['de']): string[] {
  const yn = (v: boolean | null) => (v === null ? '–' : v ? t.yes : t.no);
  const cn = s.certificate?.subject ?? '?';
  const out = [
    `${t.signature} ${i + 1} ${t.of} ${n} — ${s.field}: ${t.status[s.status]}`,
    `  ${t.indication}: ${s.indication}${s.subIndication ? ` / ${s.subIndication}` : ''}`,
    `  ${t.signer}: ${s.name}${s.role ? `, ${s.role}` : ''}`,
    `  ${t.certified}: ${s.signer?.name ?? '?'}${s.signer?.organisation ? ` (${s.signer.organisation})` : ''} — ${s.signer?.matchesPlanned ? t.planned : t.mismatch}`,
    `  ${t.level}: ${t.levels[s.level]} — ${s.levelReason}`,
    `  ${t.certificate}: ${cn}`,
    `  ${t.issuer}: ${s.certificate?.issuer ?? '?'}`,
    `  ${t.placeDate}: ${s.place ?? '?'}, ${s.date ?? '?'}`,
    `  ${t.signed}: ${s.signingTime ? formatSigningTime(new Date(s.signingTime)) : '?'} ${s.timestamp ? '' : t.claimed}`.trimEnd(),
  ];
  if (s.timestamp) out.push(`  ${t.timestamp}: ${formatSigningTime(new Date(s.timestamp))} (RFC 3161, ${yn(s.checks.timestamp)})`);
  out.push(`  ${t.timeOfProof}: ${formatSigningTime(new Date(s.timeOfProof.at))} (${t.sources[s.timeOfProof.source]})`);
  out.push(`  ${t.pades}: ${s.pades}`);
  for (const r of s.revocation) {
    const when = r.revokedAt ? ` ${formatSigningTime(new Date(r.revokedAt))}${r.reason ? ` (${r.reason})` : ''}` : '';
    out.push(`  ${t.revocation}: ${t.revocationStatus[r.status] ?? r.status}${when}${r.source ? ` — ${r.source.toUpperCase()}${r.issuedAt ? ` vom ${formatSigningTime(new Date(r.issuedAt))}` : ''}` : ''} (${r.subject.replace(/^.*?CN=([^,]+).*$/, '$1')})`);
  }
  out.push(
    `  ${t.integrity}: ${yn(s.checks.integrity)}`,
    `  ${t.cms}: ${yn(s.checks.signature)}`,
    `  ${t.certAttr}: ${yn(s.checks.signingCertificateAttribute)}`,
    `  ${t.chain}: ${t[s.checks.chain]}`,
    `  ${t.validAt}: ${yn(s.checks.validAtSigningTime)}`,
    `  ${t.covers}: ${yn(s.checks.coversWholeDocument)}${s.allowedChangesAfter ? ` (${s.allowedChangesAfter} ${t.later})` : ''}`,
    `  ${t.unchanged}: ${yn(s.checks.unchangedSince)}`,
    `  ${t.generatorOnly}: ${yn(s.checks.onlyGeneratorContent)}`,
  );
  for (const p of s.problems) out.push(`  ! ${p}`);
  return out;
}

export function formatReport(r: VerifyReport, lang: Lang): string {
  const t = L[lang];
  const lines = [`${t.document}: ${r.title}`, `SHA-256: ${r.sha256}`, `${t.signatures}: ${r.signatures.length}`, ''];
  r.signatures.forEach((s, i) => lines.push(...signatureLines(s, i, r.signatures.length, t), ''));
  if (r.documentTimestamps.length) {
    lines.push(`${t.documentTimestamps}:`);
    for (const d of r.documentTimestamps) {
      lines.push(`  ${d.field}: ${d.time ? formatSigningTime(new Date(d.time)) : '?'} — ${t.status[d.status]} (${t.provenAt} ${formatSigningTime(new Date(d.proofAt))}; ${d.tsa ?? '?'})`);
      for (const p of d.problems) lines.push(`    ! ${p}`);
    }
    lines.push('');
  }
  if (r.pending.length) lines.push(`${t.pending}: ${r.pending.map((p) => `${p.name} (${p.role}, ${p.signatory})`).join('; ')}`);
  lines.push(`${t.reproduction} ${t.reproductionNote}: ${r.reproduction.status === 'match' ? t.yes : r.reproduction.status === 'unavailable' ? '–' : t.no} — ${(lang === 'de' && r.reproduction.summary) || r.reproduction.detail}`);
  lines.push(`${t.writtenForm}: ${writtenFormText(r)}`);
  if (r.problems.length) {
    lines.push(`${t.problems}:`);
    for (const p of r.problems) lines.push(`  ! ${p}`);
  }
  lines.push('', `${t.verifiedAt}: ${formatSigningTime(new Date(r.verifiedAt))}`, `${t.verdict}: ${t.status[r.verdict]}`);
  return lines.join('\n') + '\n';
}
