/**
 * Local accounts: scrypt password hashes, lockout after repeated failures, server-side sessions
 * and personal API tokens. Only hashes of session ids and tokens are stored.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { z } from 'zod';
import type { Store } from '../store/store.ts';
import { isRole, ROLES, type Role } from './roles.ts';
import { sha256Hex } from '../digest.ts';

const scrypt = (password: string, salt: Buffer, keylen: number, opts: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) => scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));

/** OWASP's scrypt recommendation (N=2^17, r=8, p=1) costs 128 MiB per hash; 2^15 keeps logins fast on 2 cores. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1 };
const KEY_LEN = 32;

export const MAX_FAILED_LOGINS = 5;
export const LOCKOUT_MS = 15 * 60_000;
export const SESSION_IDLE_MS = 8 * 3600_000;
export const SESSION_MAX_MS = 12 * 3600_000;

export const MIN_PASSWORD_LENGTH = 12;

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password.normalize('NFC'), salt, KEY_LEN, { ...SCRYPT, maxmem: 256 * SCRYPT.N * SCRYPT.r });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64');
  const N = Number(n);
  const actual = await scrypt(password.normalize('NFC'), Buffer.from(salt, 'base64'), expected.length, { N, r: Number(r), p: Number(p), maxmem: 256 * N * Number(r) });
  return timingSafeEqual(actual, expected);
}

/** A hash of a random password: checked against when the user does not exist, so timing does not tell. */
let dummyHash: Promise<string> | undefined;

export const sha256 = (s: string) => sha256Hex(s);
export const randomToken = (bytes = 32) => randomBytes(bytes).toString('base64url');

export interface User {
  id: number;
  username: string;
  displayName: string;
  email: string | null;
  roles: Role[];
  disabled: boolean;
  lockedUntil: string | null;
  failedLogins: number;
  createdAt: string;
}

interface UserRow {
  id: number;
  username: string;
  display_name: string;
  email: string | null;
  roles: string;
  password_hash: string;
  failed_logins: number;
  locked_until: string | null;
  disabled: number;
  created_at: string;
}

const toUser = (r: UserRow): User => ({
  id: r.id,
  username: r.username,
  displayName: r.display_name,
  email: r.email,
  roles: r.roles.split(',').filter(isRole),
  disabled: r.disabled === 1,
  lockedUntil: r.locked_until,
  failedLogins: r.failed_logins,
  createdAt: r.created_at,
});

export class AccountError extends Error {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export const Username = z
  .string()
  .trim()
  .min(2, { message: 'mindestens 2 Zeichen' })
  .max(60, { message: 'höchstens 60 Zeichen' })
  .regex(/^[a-zA-Z0-9._-]+$/, { message: 'nur Buchstaben (ohne Umlaute), Ziffern, Punkt, Binde- und Unterstrich' });

export const Password = z
  .string()
  .min(MIN_PASSWORD_LENGTH, { message: `mindestens ${MIN_PASSWORD_LENGTH} Zeichen` })
  .max(200, { message: 'höchstens 200 Zeichen' });

export const NewUser = z.object({
  username: Username,
  displayName: z.string().trim().min(2, { message: 'mindestens 2 Zeichen' }).max(120, { message: 'höchstens 120 Zeichen' }),
  email: z.union([z.literal(''), z.email({ message: 'keine gültige E-Mail-Adresse' })]).optional(),
  roles: z.array(z.enum(ROLES)).min(1, { message: 'mindestens eine Rolle wählen' }),
  password: Password,
});
export type NewUser = z.infer<typeof NewUser>;

export type LoginResult = { ok: true; user: User } | { ok: false; reason: 'invalid' | 'locked' | 'disabled' };

export class Accounts {
  constructor(private readonly store: Store) {
    // Prepared up front: the first sign-in with an unknown name must not take twice as long.
    dummyHash ??= hashPassword(randomToken());
  }

  private get db() {
    return this.store.db;
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n;
  }

  list(): User[] {
    return (this.db.prepare('SELECT * FROM users ORDER BY username').all() as UserRow[]).map(toUser);
  }

  byId(id: number): User | undefined {
    const row = this.db.prepare('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined;
    return row && toUser(row);
  }

  byUsername(username: string): User | undefined {
    const row = this.db.prepare('SELECT * FROM users WHERE username = ?').get(username) as UserRow | undefined;
    return row && toUser(row);
  }

  async create(input: NewUser): Promise<User> {
    const u = NewUser.parse(input);
    if (this.byUsername(u.username)) throw new AccountError(`Der Benutzername „${u.username}“ ist bereits vergeben.`, 'username');
    const hash = await hashPassword(u.password);
    const now = this.store.now();
    const id = this.store.write(() => {
      if (this.byUsername(u.username)) throw new AccountError(`Der Benutzername „${u.username}“ ist bereits vergeben.`, 'username');
      this.assertUniqueSigner(null, u.displayName, u.roles);
      return Number(
        this.db
          .prepare('INSERT INTO users (username, display_name, email, roles, password_hash, created_at, password_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
          .run(u.username, u.displayName, u.email || null, [...new Set(u.roles)].join(','), hash, now, now).lastInsertRowid,
      );
    });
    return this.byId(id)!;
  }

  update(id: number, change: { displayName?: string; email?: string | null; roles?: Role[]; disabled?: boolean }): User {
    this.store.write(() => {
      const u = this.byId(id);
      if (!u) throw new AccountError('Dieses Konto gibt es nicht.');
      if (change.roles && !change.roles.includes('admin') && u.roles.includes('admin') && this.otherActiveAdmins(id) === 0) {
        throw new AccountError('Das letzte aktive Administrationskonto muss die Rolle Administration behalten.', 'roles');
      }
      if (change.disabled && u.roles.includes('admin') && this.otherActiveAdmins(id) === 0) {
        throw new AccountError('Das letzte aktive Administrationskonto kann nicht deaktiviert werden.', 'disabled');
      }
      this.assertUniqueSigner(id, change.displayName ?? u.displayName, change.roles ?? u.roles);
      this.db
        .prepare('UPDATE users SET display_name = ?, email = ?, roles = ?, disabled = ? WHERE id = ?')
        .run(change.displayName ?? u.displayName, change.email === undefined ? u.email : change.email, (change.roles ?? u.roles).join(','), (change.disabled ?? u.disabled) ? 1 : 0, id);
      if (change.disabled) this.db.prepare('DELETE FROM sessions WHERE user_id = ?').run(id);
    });
    return this.byId(id)!;
  }

  /**
   * The ministry signs as the person named in the agreement, matched by display name; so two
   * ministry accounts must never share one, or either could sign in the other's name.
   */
  private assertUniqueSigner(id: number | null, displayName: string, roles: readonly Role[]): void {
    if (!roles.includes('ministry')) return;
    const norm = (s: string) => s.normalize('NFC').replace(/\s+/g, ' ').trim().toLowerCase();
    const twin = this.list().find((u) => u.id !== id && u.roles.includes('ministry') && norm(u.displayName) === norm(displayName));
    if (twin) throw new AccountError(`Das Konto „${twin.username}“ unterzeichnet bereits als „${twin.displayName}“; jede unterzeichnende Person darf nur ein Ministeriumskonto haben.`, 'displayName');
  }

  private otherActiveAdmins(id: number): number {
    return this.list().filter((u) => u.id !== id && !u.disabled && u.roles.includes('admin')).length;
  }

  async setPassword(id: number, password: string): Promise<void> {
    Password.parse(password);
    const hash = await hashPassword(password);
    this.store.write((_f, now) => {
      this.db.prepare('UPDATE users SET password_hash = ?, password_changed_at = ?, failed_logins = 0, locked_until = NULL WHERE id = ?').run(hash, now, id);
      // A new password ends every other session.
      this.db.prepare('DELETE FROM sessions WHERE user_id = ?').run(id);
    });
  }

  /**
   * Checks a password and applies the lockout: after MAX_FAILED_LOGINS failures in a row the
   * account is locked for LOCKOUT_MS, and a correct password is refused meanwhile.
   */
  async login(username: string, password: string): Promise<LoginResult> {
    const row = this.db.prepare('SELECT * FROM users WHERE username = ?').get(username) as UserRow | undefined;
    if (!row) {
      await verifyPassword(password, await dummyHash!);
      return { ok: false, reason: 'invalid' };
    }
    return this.checkPassword(row, password);
  }

  /** Re-checks the password of a signed-in user (before signing); failures count towards the lockout. */
  async confirmPassword(userId: number, password: string): Promise<LoginResult> {
    const row = this.db.prepare('SELECT * FROM users WHERE id = ?').get(userId) as UserRow | undefined;
    if (!row) return { ok: false, reason: 'invalid' };
    return this.checkPassword(row, password);
  }

  private async checkPassword(row: UserRow, password: string): Promise<LoginResult> {
    const now = this.store.clock();
    // The hash is always computed, so that a locked or disabled account answers as slowly as any other.
    const good = await verifyPassword(password, row.password_hash);
    if (row.locked_until && new Date(row.locked_until) > now) return { ok: false, reason: 'locked' };
    if (row.disabled) return { ok: false, reason: 'disabled' };
    if (good) {
      this.store.write(() => this.db.prepare('UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?').run(row.id));
      return { ok: true, user: this.byId(row.id)! };
    }
    const locked = this.store.write(() => {
      const cur = this.db.prepare('SELECT failed_logins FROM users WHERE id = ?').get(row.id) as { failed_logins: number };
      const failures = cur.failed_logins + 1;
      const lock = failures >= MAX_FAILED_LOGINS ? new Date(now.getTime() + LOCKOUT_MS).toISOString() : null;
      this.db.prepare('UPDATE users SET failed_logins = ?, locked_until = ? WHERE id = ?').run(lock ? 0 : failures, lock, row.id);
      return lock !== null;
    });
    return { ok: false, reason: locked ? 'locked' : 'invalid' };
  }

  /** Lifts a lockout: clears the failed-login count and the lock time (administration). */
  unlock(id: number): User {
    this.store.write(() => this.db.prepare('UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?').run(id));
    const u = this.byId(id);
    if (!u) throw new AccountError('Dieses Konto gibt es nicht.');
    return u;
  }

  // ───────────────────────────── sessions ─────────────────────────────

  startSession(userId: number): string {
    const id = randomToken();
    const now = this.store.clock();
    this.store.write(() => {
      this.db.prepare('DELETE FROM sessions WHERE expires_at < ?').run(now.toISOString());
      this.db
        .prepare('INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?)')
        .run(sha256(id), userId, now.toISOString(), now.toISOString(), new Date(now.getTime() + SESSION_MAX_MS).toISOString());
    });
    return id;
  }

  /** The session's user, or undefined when the session is unknown, expired, idle too long or its user disabled. */
  sessionUser(sessionId: string): User | undefined {
    const row = this.db.prepare('SELECT * FROM sessions WHERE id_hash = ?').get(sha256(sessionId)) as
      | { id_hash: string; user_id: number; last_seen_at: string; expires_at: string }
      | undefined;
    if (!row) return undefined;
    const now = this.store.clock();
    if (new Date(row.expires_at) <= now || now.getTime() - new Date(row.last_seen_at).getTime() > SESSION_IDLE_MS) return undefined;
    const user = this.byId(row.user_id);
    if (!user || user.disabled) return undefined;
    // Touch at most once a minute: keeps page loads from becoming writes.
    if (now.getTime() - new Date(row.last_seen_at).getTime() > 60_000) {
      this.store.write(() => this.db.prepare('UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?').run(now.toISOString(), row.id_hash));
    }
    return user;
  }

  endSession(sessionId: string): void {
    this.store.write(() => this.db.prepare('DELETE FROM sessions WHERE id_hash = ?').run(sha256(sessionId)));
  }

  // ───────────────────────────── API tokens ─────────────────────────────

  /** Creates a personal API token; the token itself is returned once and only its hash is kept. */
  createToken(userId: number, name: string, days: number | null): { id: number; token: string } {
    const token = `zvt_${randomToken()}`;
    const now = this.store.clock();
    const expires = days ? new Date(now.getTime() + days * 86_400_000).toISOString() : null;
    const id = this.store.write(() =>
      Number(
        this.db
          .prepare('INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)')
          .run(userId, name, sha256(token), token.slice(0, 10), now.toISOString(), expires).lastInsertRowid,
      ),
    );
    return { id, token };
  }

  listTokens(userId: number) {
    return this.db
      .prepare('SELECT id, name, prefix, created_at, last_used_at, expires_at, revoked_at FROM api_tokens WHERE user_id = ? ORDER BY id DESC')
      .all(userId) as { id: number; name: string; prefix: string; created_at: string; last_used_at: string | null; expires_at: string | null; revoked_at: string | null }[];
  }

  /** Revokes one of the user's own tokens; false when there is no such token of theirs. */
  revokeToken(userId: number, tokenId: number): boolean {
    return this.store.write((_f, now) => this.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL').run(now, tokenId, userId).changes === 1);
  }

  tokenUser(token: string): User | undefined {
    const row = this.db.prepare('SELECT * FROM api_tokens WHERE token_hash = ?').get(sha256(token)) as
      | { id: number; user_id: number; expires_at: string | null; revoked_at: string | null; last_used_at: string | null }
      | undefined;
    if (!row || row.revoked_at) return undefined;
    const now = this.store.clock();
    if (row.expires_at && new Date(row.expires_at) <= now) return undefined;
    const user = this.byId(row.user_id);
    if (!user || user.disabled) return undefined;
    if (!row.last_used_at || now.getTime() - new Date(row.last_used_at).getTime() > 60_000) {
      this.store.write(() => this.db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ?').run(now.toISOString(), row.id));
    }
    return user;
  }

  // ───────────────────────────── settings ─────────────────────────────

  /** A server secret (CSRF tokens), created once per data directory. */
  secret(): Buffer {
    const get = () => (this.db.prepare("SELECT value FROM settings WHERE key = 'http-secret'").get() as { value: string } | undefined)?.value;
    let value = get();
    if (!value) {
      value = this.store.write(() => {
        const existing = get();
        if (existing) return existing;
        const fresh = randomBytes(32).toString('base64');
        this.db.prepare("INSERT INTO settings (key, value) VALUES ('http-secret', ?)").run(fresh);
        return fresh;
      });
    }
    return Buffer.from(value, 'base64');
  }
}

export { ROLES };
