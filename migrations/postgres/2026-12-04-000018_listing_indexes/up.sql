-- Listing filters at scale (bench/scale.sh, 10 million events): each index is the
-- tenant, the filtered column, then the listing's order, so a page is a short walk of
-- one index however long the log, instead of a scan of the tenant's events for the
-- few that match. Outcome and action have few values; their indexes serve the rare
-- ones (`denied`, a rare action), which a scan of the newest events finds last.
CREATE INDEX audit_events_actor ON audit_events (tenant_id, actor_id, seq);
CREATE INDEX audit_events_action ON audit_events (tenant_id, action, seq);
CREATE INDEX audit_events_outcome ON audit_events (tenant_id, outcome, seq);
CREATE INDEX issued_tokens_subject ON issued_tokens (tenant_id, subject, issued_at);
-- A time range's page: its sequence numbers come from this index alone (see
-- `audit::store::list`), so the index carries `seq`.
DROP INDEX audit_events_occurred;
CREATE INDEX audit_events_occurred ON audit_events (tenant_id, occurred_at, seq);
