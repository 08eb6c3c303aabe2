-- A user is bound to a tenant of its organization (storage.ErrNoTenant),
-- for every instance at once: a sign-in inserting a user takes a key-share
-- lock on the tenant's row through this key, so a tenant deletion either
-- waits for it (and then finds the user: conflict) or commits first (and
-- the insert fails). NOT VALID: rows written before this migration are not
-- re-checked, so it never fails on an old database; every new or changed
-- row is.
ALTER TABLE users ADD CONSTRAINT users_tenant_fk
    FOREIGN KEY (org_id, tenant_id) REFERENCES tenants (org_id, id) NOT VALID;
