-- EM_METRICS_RETENTION deletes pushes by age, a chunk at a time.
CREATE INDEX pushes_by_age ON pushes (received_at);
