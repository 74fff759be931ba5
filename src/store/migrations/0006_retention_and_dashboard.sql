-- EM_METRICS_RETENTION deletes pushes by age, a chunk at a time.
CREATE INDEX pushes_by_age ON pushes (received_at);

-- The dashboard lists the newest open incidents: without this, a walk of
-- every incident ever recorded.
CREATE INDEX incidents_open ON incidents (started_at, id) WHERE restored_at IS NULL;
