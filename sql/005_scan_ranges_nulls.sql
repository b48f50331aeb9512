-- exai-git migration 005: an issue with line_start and no line_end is on that one line.
--
-- 004 declared exai_line_range RETURNS NULL ON NULL INPUT, so exai_line_range(10, NULL) was
-- NULL and such an issue never overlapped any hunk: the scanner never reported it. Called on
-- NULL input, the same body gives one line for (n, NULL), the ends in order for a reversed
-- range, and the whole file (an unbounded range) when there is no line_start at all.
-- The range index holds the function's results, so it is rebuilt.

CREATE OR REPLACE FUNCTION exai_line_range(line_start integer, line_end integer)
    RETURNS int4range
    LANGUAGE sql IMMUTABLE PARALLEL SAFE CALLED ON NULL INPUT AS $$
    SELECT int4range(least(line_start, coalesce(line_end, line_start)),
                     greatest(line_start, coalesce(line_end, line_start)), '[]')
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_class WHERE relname = 'exai_issues_open_range_idx'
               AND relkind = 'i') THEN
        REINDEX INDEX exai_issues_open_range_idx;
    END IF;
END
$$;
