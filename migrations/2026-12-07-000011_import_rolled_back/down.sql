UPDATE import_runs SET outcome = 'stopped' WHERE outcome = 'rolled back';
ALTER TABLE import_runs DROP CONSTRAINT import_runs_outcome_check;
ALTER TABLE import_runs ADD CONSTRAINT import_runs_outcome_check
    CHECK (outcome IN ('running', 'loaded', 'loaded with rejects', 'stopped'));
