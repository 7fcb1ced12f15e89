/**
 * Schema migrations, applied in order; the database's user_version counts the applied ones.
 * Never edit a released migration: append a new one.
 */
/**
 * A migration that rebuilds a table referenced by foreign keys (SQLite cannot alter a CHECK
 * constraint) runs with foreign key enforcement off and a foreign_key_check before its commit,
 * as SQLite's documented 12-step procedure prescribes.
 */
export interface Rebuild {
  rebuild: string;
}
export type Migration = string | Rebuild;

export const MIGRATIONS: readonly Migration[] = [
  /* 1: agreements, files, envelopes, signatories, link tokens, audit events, notifications */ `
  CREATE TABLE files (
    id          INTEGER PRIMARY KEY,
    path        TEXT NOT NULL UNIQUE,          -- relative to the data directory, '/'-separated
    kind        TEXT NOT NULL CHECK (kind IN ('draft-pdf','draft-docx','signed-step','signed-pdf','audit-report','outbox-eml')),
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    created_at  TEXT NOT NULL
  );

  CREATE TABLE agreements (
    id            INTEGER PRIMARY KEY,
    type          TEXT NOT NULL CHECK (type IN ('aqb','sgb2')),
    year          INTEGER NOT NULL,
    partner_id    TEXT NOT NULL,
    partner_name  TEXT NOT NULL,
    version       INTEGER NOT NULL CHECK (version >= 1),
    edition       TEXT NOT NULL,
    title         TEXT NOT NULL,
    amount_cents  INTEGER,
    file_base     TEXT NOT NULL,
    input_json    TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('draft','in_signing','signed','declined','cancelled','superseded')),
    pdf_file_id   INTEGER NOT NULL REFERENCES files(id),
    docx_file_id  INTEGER REFERENCES files(id),
    created_at    TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    UNIQUE (type, year, partner_id, version)
  );
  CREATE INDEX agreements_by_year ON agreements(year, type, status);

  CREATE TABLE envelopes (
    id               INTEGER PRIMARY KEY,
    agreement_id     INTEGER NOT NULL REFERENCES agreements(id),
    status           TEXT NOT NULL CHECK (status IN ('open','completed','declined','cancelled')),
    current_file_id  INTEGER NOT NULL REFERENCES files(id),
    report_file_id   INTEGER REFERENCES files(id),
    clerk_name       TEXT NOT NULL,
    clerk_email      TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    closed_at        TEXT,
    rev              INTEGER NOT NULL DEFAULT 0,   -- bumped by every change: optimistic concurrency
    event_count      INTEGER NOT NULL DEFAULT 0,   -- with head_hash: a deleted last event is detected
    head_hash        TEXT NOT NULL DEFAULT ''
  );
  CREATE UNIQUE INDEX one_open_envelope_per_agreement ON envelopes(agreement_id) WHERE status = 'open';

  CREATE TABLE signatories (
    id                   INTEGER PRIMARY KEY,
    envelope_id          INTEGER NOT NULL REFERENCES envelopes(id),
    position             INTEGER NOT NULL,
    ref                  TEXT NOT NULL,            -- 'ministry:1', 'partner:2' (the PDF's signing plan)
    party                TEXT NOT NULL CHECK (party IN ('ministry','partner')),
    name                 TEXT NOT NULL,
    role                 TEXT NOT NULL,
    organisation         TEXT NOT NULL,
    email                TEXT,                     -- partner signatories get links; the ministry signs in Zielwerk itself
    status               TEXT NOT NULL CHECK (status IN ('pending','signed','declined')),
    signed_at            TEXT,
    place                TEXT,
    stamp_date           TEXT,
    certificate_subject  TEXT,
    certificate_issuer   TEXT,
    certificate_serial   TEXT,
    certificate_sha256   TEXT,
    declined_at          TEXT,
    decline_reason       TEXT,
    UNIQUE (envelope_id, position),
    UNIQUE (envelope_id, ref)
  );
  CREATE INDEX signatories_by_name ON signatories(name);

  CREATE TABLE link_tokens (
    id             INTEGER PRIMARY KEY,
    signatory_id   INTEGER NOT NULL REFERENCES signatories(id),
    token_hash     TEXT NOT NULL UNIQUE,            -- SHA-256 of the token; the token itself is never stored
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    revoked_at     TEXT,
    used_at        TEXT,
    reminded_at    TEXT
  );
  CREATE INDEX link_tokens_by_signatory ON link_tokens(signatory_id);

  CREATE TABLE audit_events (
    id           INTEGER PRIMARY KEY,
    envelope_id  INTEGER NOT NULL REFERENCES envelopes(id),
    seq          INTEGER NOT NULL,
    type         TEXT NOT NULL,
    actor        TEXT NOT NULL,
    at           TEXT NOT NULL,
    doc_before   TEXT,
    doc_after    TEXT,
    details      TEXT NOT NULL,                     -- JSON object
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL,
    UNIQUE (envelope_id, seq)
  );

  CREATE TABLE notifications (
    id            INTEGER PRIMARY KEY,
    envelope_id   INTEGER NOT NULL REFERENCES envelopes(id),
    signatory_id  INTEGER REFERENCES signatories(id),
    kind          TEXT NOT NULL CHECK (kind IN ('invite','turn','reminder','declined','cancelled','completed')),
    recipient     TEXT NOT NULL,
    subject       TEXT NOT NULL,
    body          TEXT NOT NULL,                    -- the personal link is redacted
    message_id    TEXT NOT NULL,
    transport     TEXT NOT NULL CHECK (transport IN ('outbox','smtp')),
    status        TEXT NOT NULL CHECK (status IN ('written','queued','sent','failed')),
    eml_file_id   INTEGER REFERENCES files(id),     -- the .eml in outbox/ (for SMTP: until it is sent)
    created_at    TEXT NOT NULL,
    sent_at       TEXT,
    error         TEXT
  );
  `,
  /* 2: a delivering process claims a queued message first, so two processes never send it twice */ `
  ALTER TABLE notifications ADD COLUMN claimed_at TEXT;
  `,
  /* 3: files may be paper scans (the paper fallback) */ {
    rebuild: `
  CREATE TABLE files_new (
    id          INTEGER PRIMARY KEY,
    path        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL CHECK (kind IN ('draft-pdf','draft-docx','signed-step','signed-pdf','audit-report','outbox-eml','paper-scan')),
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    created_at  TEXT NOT NULL
  );
  INSERT INTO files_new (id, path, kind, size, sha256, created_at) SELECT id, path, kind, size, sha256, created_at FROM files;
  DROP TABLE files;
  ALTER TABLE files_new RENAME TO files;
  `,
  },
  /* 4: web accounts, sessions, API tokens, contacts, paper signatures, settings */ `
  CREATE TABLE users (
    id                   INTEGER PRIMARY KEY,
    username             TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name         TEXT NOT NULL,
    email                TEXT,
    roles                TEXT NOT NULL,          -- comma-separated: admin, clerk, ministry, archivist
    password_hash        TEXT NOT NULL,          -- scrypt$N$r$p$salt$hash
    failed_logins        INTEGER NOT NULL DEFAULT 0,
    locked_until         TEXT,
    disabled             INTEGER NOT NULL DEFAULT 0,
    created_at           TEXT NOT NULL,
    password_changed_at  TEXT NOT NULL
  );

  CREATE TABLE sessions (
    id_hash       TEXT PRIMARY KEY,              -- SHA-256 of the cookie value
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at    TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    expires_at    TEXT NOT NULL
  );
  CREATE INDEX sessions_by_user ON sessions(user_id);

  CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,          -- SHA-256 of the token; the token is shown once
    prefix        TEXT NOT NULL,                 -- first characters, to recognise a token in a list
    created_at    TEXT NOT NULL,
    last_used_at  TEXT,
    expires_at    TEXT,
    revoked_at    TEXT
  );

  CREATE TABLE contacts (
    id          INTEGER PRIMARY KEY,
    party       TEXT NOT NULL,                 -- 'ministry' or the partner's id
    name        TEXT NOT NULL,
    email       TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL,
    UNIQUE (party, name)
  );

  CREATE TABLE paper_signatures (
    id            INTEGER PRIMARY KEY,
    agreement_id  INTEGER NOT NULL UNIQUE REFERENCES agreements(id),
    file_id       INTEGER NOT NULL REFERENCES files(id),
    uploaded_by   TEXT NOT NULL,
    uploaded_at   TEXT NOT NULL,
    note          TEXT NOT NULL DEFAULT ''
  );

  CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
  );
  `,
  /* 5: a link's holder viewing the same document again is not logged again (page reloads are reads) */ `
  ALTER TABLE link_tokens ADD COLUMN opened_sha256 TEXT;
  `,
  /* 6: where each signature's key lived; certificates the instance trusts besides its demo CA */ `
  ALTER TABLE signatories ADD COLUMN signer_kind TEXT CHECK (signer_kind IN ('keystore','pkcs11','csc','upload'));
  UPDATE signatories SET signer_kind = 'keystore' WHERE status = 'signed';

  CREATE TABLE trust_anchors (
    sha256      TEXT PRIMARY KEY,               -- lower-case hex of the DER certificate
    der         BLOB NOT NULL,
    subject     TEXT NOT NULL,
    not_after   TEXT NOT NULL,
    qualified   INTEGER NOT NULL DEFAULT 0,     -- marked as a qualified trust service (issue: level of a signature)
    source      TEXT NOT NULL,                  -- 'cli', 'web', 'trusted-list'
    added_at    TEXT NOT NULL,
    added_by    TEXT NOT NULL
  );
  `,
  /* 7: what each signature proves (its level) and, per completed envelope, whether the written form is met */ `
  ALTER TABLE signatories ADD COLUMN level TEXT CHECK (level IN ('simple','advanced','qualified'));
  UPDATE signatories SET level = 'simple' WHERE signer_kind = 'keystore';
  ALTER TABLE envelopes ADD COLUMN written_form INTEGER;          -- 1 / 0 as verified when the envelope completed
  ALTER TABLE envelopes ADD COLUMN written_form_reasons TEXT;     -- JSON array of German sentences
  UPDATE envelopes SET written_form = 0, written_form_reasons = '["mit dem Key-Store unterzeichnet (einfache elektronische Signaturen)"]' WHERE status = 'completed';
  `,
  /* 8: audit chains anchored by RFC 3161 time-stamps (an envelope's head at completion; each archive renewal run) */ `
  CREATE TABLE anchors (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('envelope','renewal')),
    envelope_id  INTEGER REFERENCES envelopes(id),   -- 'envelope' anchors; NULL for a renewal run
    subject      TEXT NOT NULL,                      -- canonical JSON of what is anchored
    digest       TEXT NOT NULL,                      -- SHA-256 (hex) of subject: the token's message imprint
    token        BLOB NOT NULL,                      -- DER TimeStampToken
    gen_time     TEXT NOT NULL,                      -- the token's genTime, ISO
    created_at   TEXT NOT NULL,
    CHECK ((kind = 'envelope') = (envelope_id IS NOT NULL))
  );
  CREATE INDEX anchors_by_envelope ON anchors(envelope_id);
  `,
];
