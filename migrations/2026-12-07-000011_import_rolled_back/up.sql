-- An `--atomic` run that rejected a line commits nothing: its outcome says so.
ALTER TABLE import_runs DROP CONSTRAINT import_runs_outcome_check;
ALTER TABLE import_runs ADD CONSTRAINT import_runs_outcome_check
    CHECK (outcome IN ('running', 'loaded', 'loaded with rejects', 'rolled back', 'stopped'));
