DROP TABLE audit_stream_positions;
DROP TABLE audit_streams;
