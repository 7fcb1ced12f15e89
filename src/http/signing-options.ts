/**
 * Which ways of signing the web app offers, read from the server's settings, and what each
 * means legally — one German sentence, shown next to every choice.
 *
 *   Key-Store      always (the embedded default; a key this server holds: a simple signature)
 *   PKCS#11        when ZV_PKCS11_URI names the ministry's card or HSM key (the PIN is typed in the form)
 *   Fernsignatur   ministry: when ZV_CSC_URL and a service login (ZV_CSC_USER/ZV_CSC_PASSWORD or
 *                  ZV_CSC_TOKEN) are set; county links: when ZV_CSC_URL, ZV_CSC_CLIENT_ID and
 *                  ZV_CSC_REDIRECT_URI are set (the signatory logs in at the provider, oauth2code)
 *   Upload         county links, always
 */
export type WebBackend = 'keystore' | 'pkcs11' | 'csc';

export const LEGAL_WEIGHT = {
  keystore:
    'Einfache elektronische Signatur: Der Schlüssel liegt auf dem Zielwerk-Server. Das ersetzt die Schriftform (§ 3a Abs. 2 VwVfG) nicht – für den Vertragsschluss braucht es zusätzlich eine qualifizierte Signatur oder die Papierausfertigung.',
  pkcs11:
    'Mit Ihrer Signaturkarte oder dem HSM des Hauses: Mit einem qualifizierten Zertifikat auf einer qualifizierten Signaturerstellungseinheit ist das eine qualifizierte elektronische Signatur, die die Schriftform ersetzt (§ 3a Abs. 2 VwVfG, Art. 25 Abs. 2 eIDAS).',
  csc: 'Fernsignatur bei Ihrem Vertrauensdiensteanbieter: Mit einem qualifizierten Zertifikat ist das eine qualifizierte elektronische Signatur, die die Schriftform ersetzt (§ 3a Abs. 2 VwVfG, Art. 25 Abs. 2 eIDAS).',
  upload:
    'Mit Ihrem eigenen Signaturprogramm (z. B. Adobe Acrobat mit Signaturkarte): Signieren Sie mit einem qualifizierten Zertifikat, ist das eine qualifizierte elektronische Signatur, die die Schriftform ersetzt (§ 3a Abs. 2 VwVfG).',
} as const;

export const BACKEND_LABELS: Record<WebBackend, string> = {
  keystore: 'Key-Store (Demo/Entwicklung)',
  pkcs11: 'Signaturkarte oder HSM (PKCS#11)',
  csc: 'Fernsignatur (Vertrauensdiensteanbieter)',
};

/** The card/HSM key the ministry page signs with, or null. */
export const ministryPkcs11Uri = (env: NodeJS.ProcessEnv = process.env): string | null => env.ZV_PKCS11_URI?.trim() || null;

/** Remote signing with the server's service login (explicit PIN/OTP) for the ministry batch. */
export const ministryCscConfigured = (env: NodeJS.ProcessEnv = process.env): boolean => !!env.ZV_CSC_URL && (!!env.ZV_CSC_TOKEN || (!!env.ZV_CSC_USER && !!env.ZV_CSC_PASSWORD));

/** Remote signing in the browser (oauth2code) for county links. */
export const browserCscConfigured = (env: NodeJS.ProcessEnv = process.env): boolean => !!env.ZV_CSC_URL && !!env.ZV_CSC_CLIENT_ID && !!env.ZV_CSC_REDIRECT_URI;

/** The backends the ministry page offers, key store first. */
export function ministryBackends(env: NodeJS.ProcessEnv = process.env): WebBackend[] {
  return ['keystore', ...(ministryPkcs11Uri(env) ? (['pkcs11'] as const) : []), ...(ministryCscConfigured(env) ? (['csc'] as const) : [])];
}
