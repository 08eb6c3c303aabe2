-- One public key, one owner: the same public key (its fingerprint, over the
-- canonical PKIX encoding, names the same keys the RFC 7638 thumbprint does)
-- at most once per organization, whichever partner and kid. A database
-- written before this index may hold a key twice; the first kid keeps the
-- fingerprint in the index, the other copy stays stored (and deletable) with
-- an empty one, so the migration never fails on old data.
ALTER TABLE keys ADD COLUMN fingerprint text COLLATE "C" NOT NULL DEFAULT '';
UPDATE keys k SET fingerprint = k.data->>'fingerprint'
 WHERE coalesce(k.data->>'fingerprint', '') <> ''
   AND k.kid = (SELECT min(o.kid) FROM keys o
                 WHERE o.org_id = k.org_id AND o.data->>'fingerprint' = k.data->>'fingerprint');
CREATE UNIQUE INDEX keys_fingerprint_unique ON keys (org_id, fingerprint) WHERE fingerprint <> '';
