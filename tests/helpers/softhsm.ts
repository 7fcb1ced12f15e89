/**
 * SoftHSM2 (Debian softhsm2) as a real PKCS#11 token for tests: its own token directory and
 * configuration in a temp dir (SOFTHSM2_CONF), keys generated on the token (never extractable),
 * certificates stored next to them. Token set-up runs in child processes, so the test process
 * loads the module only through the code under test.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SOFTHSM_MODULE = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so', '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so'].find(existsSync);

export interface Token {
  label: string;
  pin: string;
  /** Environment for every process that uses the token. */
  env: { SOFTHSM2_CONF: string };
  module: string;
  /** RFC 7512 URI of `object` on this token (module-path included), plus extra query parts. */
  uri(object: string, query?: string): string;
}

/** A SoftHSM2 configuration whose tokens live under `dir` (one per test file; tokens share it). */
export function softhsmConfig(dir: string): { SOFTHSM2_CONF: string } {
  const tokens = join(dir, 'tokens');
  mkdirSync(tokens, { recursive: true });
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  return { SOFTHSM2_CONF: conf };
}

export function createToken(env: { SOFTHSM2_CONF: string }, label: string, pin = '246810', module = SOFTHSM_MODULE!): Token {
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', '13579135', '--pin', pin], { env: { ...process.env, ...env }, stdio: 'pipe' });
  return {
    label,
    pin,
    env,
    module,
    uri: (object, query = '') => `pkcs11:token=${encodeURIComponent(label)};object=${encodeURIComponent(object)}?module-path=${module}${query ? `&${query}` : ''}`,
  };
}

/** Runs a graphene-pk11 snippet against the token in a child process; `session` is logged in. Returns its JSON output. */
function onToken<T>(token: Token, body: string, args: unknown): T {
  const script = `
    import * as g from 'graphene-pk11';
    const graphene = g.default ?? g;
    const args = JSON.parse(process.argv[1]);
    const mod = graphene.Module.load(${JSON.stringify(token.module)}, 'test');
    mod.initialize();
    try {
      const slots = mod.getSlots(true);
      let slot;
      for (let i = 0; i < slots.length; i++) if (slots.items(i).getToken().label.trim() === ${JSON.stringify(token.label)}) slot = slots.items(i);
      const session = slot.open(graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION);
      session.login(${JSON.stringify(token.pin)});
      const result = await (async () => { ${body} })();
      session.logout(); session.close();
      process.stdout.write(JSON.stringify(result ?? null));
    } finally { mod.finalize(); }`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(args)], { env: { ...process.env, ...token.env }, cwd: new URL('../..', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out.toString('utf8')) as T;
}

/** Generates a key pair on the token (sensitive, not extractable); returns the public key as SPKI DER. */
export function generateKey(token: Token, o: { label: string; id: string; type: 'rsa' | 'ec'; bits?: number; curve?: 'P-256' | 'P-384' }): Uint8Array {
  const spki = onToken<string>(
    token,
    `
    const id = Buffer.from(args.id, 'hex');
    const common = { token: true, label: args.label, id };
    let keys;
    if (args.type === 'rsa') {
      keys = session.generateKeyPair(graphene.KeyGenMechanism.RSA,
        { ...common, keyType: graphene.KeyType.RSA, modulusBits: args.bits, publicExponent: Buffer.from([1, 0, 1]), verify: true, encrypt: false, wrap: false },
        { ...common, keyType: graphene.KeyType.RSA, sign: true, decrypt: false, unwrap: false, private: true, sensitive: true, extractable: false });
    } else {
      const oid = args.curve === 'P-384' ? '06052b81040022' : '06082a8648ce3d030107';
      keys = session.generateKeyPair(graphene.KeyGenMechanism.EC,
        { ...common, keyType: graphene.KeyType.EC, paramsEC: Buffer.from(oid, 'hex'), verify: true },
        { ...common, keyType: graphene.KeyType.EC, sign: true, private: true, sensitive: true, extractable: false });
    }
    const pub = keys.publicKey;
    const crypto = await import('node:crypto');
    let key;
    if (args.type === 'rsa') {
      const a = pub.getAttribute({ modulus: null, publicExponent: null });
      key = crypto.createPublicKey({ key: { kty: 'RSA', n: a.modulus.toString('base64url'), e: a.publicExponent.toString('base64url') }, format: 'jwk' });
    } else {
      const point = pub.getAttribute({ pointEC: null }).pointEC; // DER OCTET STRING around 04 || x || y
      const raw = point.subarray(point[1] & 0x80 ? 3 : 2);
      const n = (raw.length - 1) / 2;
      key = crypto.createPublicKey({ key: { kty: 'EC', crv: args.curve, x: raw.subarray(1, 1 + n).toString('base64url'), y: raw.subarray(1 + n).toString('base64url') }, format: 'jwk' });
    }
    return key.export({ type: 'spki', format: 'der' }).toString('base64');`,
    { ...o, bits: o.bits ?? 2048, curve: o.curve ?? 'P-256' },
  );
  return new Uint8Array(Buffer.from(spki, 'base64'));
}

/** Stores a certificate object on the token (same label and CKA_ID as its key, as card tools do). */
export function storeCertificate(token: Token, o: { label: string; id: string; der: Uint8Array }): void {
  onToken(
    token,
    `
    const crypto = await import('node:crypto');
    const der = Buffer.from(args.der, 'base64');
    const cert = new crypto.X509Certificate(der);
    session.create({ class: graphene.ObjectClass.CERTIFICATE, certType: graphene.CertificateType.X_509, token: true, private: false, label: args.label, id: Buffer.from(args.id, 'hex'), value: der,
      subject: Buffer.alloc(0), serial: Buffer.from(cert.serialNumber, 'hex') });
    return true;`,
    { ...o, der: Buffer.from(o.der).toString('base64') },
  );
}
