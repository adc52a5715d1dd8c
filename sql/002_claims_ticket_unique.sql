-- 002: uniqueness of a claim by (event_id, ticket) instead of claim_id.
-- claim_id is "c-<event_id>-<ticket>", so the two say the same thing; the
-- 96-byte secondary index on claim_id cost every insert of the drain a
-- third index update. The (event_id, ticket) index exists anyway (status and
-- rebuild read claims in ticket order); making it UNIQUE keeps the guarantee.
ALTER TABLE claims
    DROP INDEX claims_ticket,
    ADD UNIQUE KEY claims_ticket (event_id, ticket),
    DROP INDEX claims_id;
