-- The first schema of storage/postgres. Every record is kept whole, as the
-- JSON encoding/json produces for it (column `data`, type json: stored as
-- written, so nanoseconds, nil-versus-empty slices and audit bytes survive);
-- the columns beside it are what the database must index, constrain or judge.
-- Identifiers compare byte-wise (COLLATE "C"), like the other backends.
-- Instants in columns are computed in Go and stored as timestamptz (UTC,
-- microseconds); the database's own clock is never used.

CREATE TABLE orgs (
    id   text COLLATE "C" PRIMARY KEY,
    data json NOT NULL
);

CREATE TABLE tenants (
    org_id text COLLATE "C" NOT NULL REFERENCES orgs (id),
    id     text COLLATE "C" NOT NULL,
    data   json NOT NULL,
    PRIMARY KEY (org_id, id)
);

-- A sign-in holds its partner's row FOR SHARE until it commits; a
-- deactivation updates the row (FOR UPDATE), so it waits for the sign-ins in
-- flight and every later sign-in sees it.
CREATE TABLE partners (
    org_id       text COLLATE "C" NOT NULL REFERENCES orgs (id),
    id           text COLLATE "C" NOT NULL,
    name         text COLLATE "C" NOT NULL,
    consumer_key text COLLATE "C" NOT NULL,
    active       boolean NOT NULL,
    data         json NOT NULL,
    PRIMARY KEY (org_id, id),
    CONSTRAINT partners_name_unique UNIQUE (org_id, name),
    CONSTRAINT partners_consumer_key_unique UNIQUE (consumer_key)
);

CREATE TABLE keys (
    org_id       text COLLATE "C" NOT NULL,
    kid          text COLLATE "C" NOT NULL,
    partner_id   text COLLATE "C" NOT NULL,
    last_used_at timestamptz,
    data         json NOT NULL,
    PRIMARY KEY (org_id, kid),
    FOREIGN KEY (org_id, partner_id) REFERENCES partners (org_id, id) ON DELETE CASCADE
);
CREATE INDEX keys_partner ON keys (org_id, partner_id);

-- email_search and name_search are lower-cased in Go (strings.ToLower), so
-- ListUsers' substring match agrees with the other backends byte for byte.
CREATE TABLE users (
    id           text COLLATE "C" PRIMARY KEY,
    org_id       text COLLATE "C" NOT NULL,
    email        text COLLATE "C" NOT NULL,
    tenant_id    text COLLATE "C" NOT NULL,
    partner_id   text COLLATE "C" NOT NULL,
    email_search text COLLATE "C" NOT NULL,
    name_search  text COLLATE "C" NOT NULL,
    data         json NOT NULL
);
-- One user per email per organization, enforced here for every instance;
-- the same address in another organization is another user.
CREATE UNIQUE INDEX users_org_email ON users (org_id, lower(email));
CREATE INDEX users_org_list ON users (org_id, email);
CREATE INDEX users_org_tenant ON users (org_id, tenant_id, email);
CREATE INDEX users_partner ON users (partner_id) WHERE partner_id <> '';

-- Deleting a user deletes its sessions (the foreign key cascades), in the
-- same statement, on whichever instance deletes it.
CREATE TABLE sessions (
    id         text COLLATE "C" PRIMARY KEY,
    user_id    text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id     text COLLATE "C" NOT NULL,
    partner_id text COLLATE "C" NOT NULL,
    expires_at timestamptz NOT NULL,
    data       json NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_partner ON sessions (org_id, partner_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- jti and nonce markers: the primary key is what makes a replay impossible on
-- every instance (INSERT … ON CONFLICT, zero rows = replay).
CREATE TABLE replays (
    key        text COLLATE "C" PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX replays_expiry ON replays (expires_at);

CREATE TABLE login_tokens (
    id         text COLLATE "C" PRIMARY KEY,
    org_id     text COLLATE "C" NOT NULL,
    email      text COLLATE "C" NOT NULL,
    expires_at timestamptz NOT NULL,
    data       json NOT NULL
);
CREATE INDEX login_tokens_expiry ON login_tokens (expires_at);
-- A partner-side sign-out deletes the email's unconsumed tokens.
CREATE INDEX login_tokens_email ON login_tokens (org_id, email);

CREATE TABLE admin_tokens (
    id           text COLLATE "C" PRIMARY KEY,
    org_id       text COLLATE "C" NOT NULL,
    hash         text COLLATE "C" NOT NULL,
    last_used_at timestamptz,
    data         json NOT NULL,
    CONSTRAINT admin_tokens_hash_unique UNIQUE (hash)
);

-- The audit log. data holds the event exactly as it was hashed (with its
-- hash), so `gatehouse audit verify` recomputes the same bytes.
CREATE TABLE audit (
    seq    bigint PRIMARY KEY,
    time   timestamptz NOT NULL,
    org_id text COLLATE "C" NOT NULL,
    type   text COLLATE "C" NOT NULL,
    data   json NOT NULL
);
CREATE INDEX audit_org ON audit (org_id, seq);
CREATE INDEX audit_time ON audit (time);

-- The chain head: one row every append locks (FOR UPDATE) in its own
-- transaction, so Seq and PrevHash are serial across instances, and which
-- survives a prune of every event.
CREATE TABLE audit_head (
    id   smallint PRIMARY KEY CHECK (id = 1),
    seq  bigint NOT NULL,
    hash text NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');

-- The downstream assertion's signing keys: one record. The row exists from
-- the start (data NULL: no key yet), so the first key made by instances
-- starting together is serialised by its row lock like every later rotation.
CREATE TABLE signing_keys (
    id   smallint PRIMARY KEY CHECK (id = 1),
    data json
);
INSERT INTO signing_keys (id, data) VALUES (1, NULL);
