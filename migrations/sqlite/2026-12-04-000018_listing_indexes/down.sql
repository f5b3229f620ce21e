DROP INDEX audit_events_occurred;
CREATE INDEX audit_events_occurred ON audit_events (tenant_id, occurred_at);
DROP INDEX issued_tokens_subject;
DROP INDEX audit_events_outcome;
DROP INDEX audit_events_action;
DROP INDEX audit_events_actor;
