-- The change feed (storage.ChangeNotifier): every instance caches partner
-- keys in process, and SPEC §7 wants a change made through any instance to
-- apply on every other within 1 second. These triggers NOTIFY inside the
-- transaction that makes the change, so a notification is delivered exactly
-- when, and only if, the change commits; PostgreSQL folds identical payloads
-- of one transaction into one notification.
-- Payload: "<table>:<org_id>".

CREATE FUNCTION gatehouse_notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('gatehouse_changes', TG_TABLE_NAME || ':' || OLD.org_id);
    ELSE
        PERFORM pg_notify('gatehouse_changes', TG_TABLE_NAME || ':' || NEW.org_id);
    END IF;
    RETURN NULL;
END
$$;

-- keys: every insert and delete; an update only when more than the
-- last-used time moved (sign-ins touch it, and must not flush every cache).
CREATE TRIGGER keys_changed AFTER INSERT OR DELETE ON keys
    FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_change();
CREATE TRIGGER keys_updated AFTER UPDATE ON keys
    FOR EACH ROW WHEN (OLD.data::text IS DISTINCT FROM NEW.data::text OR OLD.partner_id IS DISTINCT FROM NEW.partner_id)
    EXECUTE FUNCTION gatehouse_notify_change();

-- partners: activation, policies, jwks_url, deletion (which cascades to keys).
CREATE TRIGGER partners_changed AFTER INSERT OR UPDATE OR DELETE ON partners
    FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_change();

-- tenants: rare administrative changes.
CREATE TRIGGER tenants_changed AFTER INSERT OR UPDATE OR DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_change();

-- users: deletions only; a sign-in updates its user and must stay cheap.
CREATE TRIGGER users_deleted AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_change();
