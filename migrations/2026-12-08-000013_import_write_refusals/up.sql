-- An import's upsert of a batch, run through this function so that the database itself
-- tells a row's refusal: any integrity violation (SQLSTATE class 23, whatever its code:
-- a trigger's `integrity_constraint_violation` too) reaches the importer as a
-- check_violation naming the constraint, which it isolates and rejects, where an
-- unknown code would have stopped the load. The five codes the client names already are
-- passed on as they are. Every other error (a lost lock, a full disk) is no row's.
CREATE FUNCTION import_write(statement TEXT, run_id BIGINT,
                             OUT inserted BIGINT, OUT updated BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    rule TEXT;
    why TEXT;
BEGIN
    EXECUTE statement INTO inserted, updated USING run_id;
EXCEPTION
    WHEN unique_violation OR foreign_key_violation OR not_null_violation
         OR check_violation OR restrict_violation OR exclusion_violation THEN
        RAISE;
    WHEN integrity_constraint_violation THEN
        GET STACKED DIAGNOSTICS rule = CONSTRAINT_NAME, why = MESSAGE_TEXT;
        IF rule = '' THEN
            RAISE check_violation USING MESSAGE = why;
        END IF;
        RAISE check_violation USING MESSAGE = why, CONSTRAINT = rule;
END
$$;
