-- exai-git migration 004: the scanner's question ("which open issues' lines does this hunk
-- overlap?") answered by an index, so its cost follows the change, not the tracker.
--
-- exai_line_range is the issue's line range as the scanner reads it (one line when there is
-- no end; ends swapped when written backwards). A GiST index over (path, range) needs the
-- btree_gist extension (trusted, so the database owner may create it); where it is not
-- available the index is skipped and the scanner still works, only slower on big trackers.

CREATE OR REPLACE FUNCTION exai_line_range(line_start integer, line_end integer)
    RETURNS int4range
    LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURNS NULL ON NULL INPUT AS $$
    SELECT int4range(least(line_start, coalesce(line_end, line_start)),
                     greatest(line_start, coalesce(line_end, line_start)), '[]')
$$;

REVOKE ALL ON FUNCTION exai_line_range(integer, integer) FROM PUBLIC;

-- Issues that name a file but no lines: any change to the file touches them.
CREATE INDEX IF NOT EXISTS exai_issues_open_nolines_idx
    ON exai_issues (exai_norm_path(file_path))
    WHERE status IN ('open', 'in_progress') AND file_path IS NOT NULL AND line_start IS NULL;

DO $$
DECLARE
    r text;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'exai_git_hook') THEN
        GRANT EXECUTE ON FUNCTION exai_line_range(integer, integer) TO exai_git_hook;
    END IF;
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('REVOKE ALL ON FUNCTION exai_line_range(integer, integer) FROM %I', r);
        END IF;
    END LOOP;
END
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'btree_gist') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS btree_gist;
        EXCEPTION
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'exai-git: not allowed to create btree_gist; range index skipped';
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'btree_gist') THEN
        EXECUTE 'CREATE INDEX IF NOT EXISTS exai_issues_open_range_idx ON exai_issues'
                ' USING gist (exai_norm_path(file_path), exai_line_range(line_start, line_end))'
                ' WHERE status IN (''open'', ''in_progress'') AND file_path IS NOT NULL'
                ' AND line_start IS NOT NULL';
    END IF;
END
$$;
